#!/usr/bin/env bash
# Obtain the `pulumi` CLI and its Node.js language host without the CLI's download site.
# Prints the directory holding `pulumi` and `pulumi-language-nodejs` on stdout; progress goes to stderr.
#
# Order: `pulumi` on PATH (recent enough) -> cached build -> build from the Go module proxy.
# Builds land in ${XDG_CACHE_HOME:-$HOME/.cache}/openstack-vcluster/pulumi-v<pinned>/bin; the Go module
# and build caches stay at their defaults (outside the repo) so a second build is fast.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
log() { printf 'get-pulumi: %s\n' "$*" >&2; }
die() {
  printf 'get-pulumi: FAILED: %s\n' "$*" >&2
  exit 1
}

PKG_JSON="$REPO/node_modules/@pulumi/pulumi/package.json"
[[ -f "$PKG_JSON" ]] || die "no $PKG_JSON; run 'npm install' first"
PINNED="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$PKG_JSON" | head -n1)"
[[ -n "$PINNED" ]] || die "cannot read the @pulumi/pulumi version from $PKG_JSON"

CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/openstack-vcluster"
CACHE="$CACHE_ROOT/pulumi-v$PINNED"
BIN="$CACHE/bin"

# version_ge A B: A >= B for dotted numeric versions (a leading "v" and any "-suffix" ignored).
version_ge() {
  local a="${1#v}" b="${2#v}"
  a="${a%%[-+]*}"
  b="${b%%[-+]*}"
  [[ "$(printf '%s\n%s\n' "$a" "$b" | sort -V | head -n1)" == "$b" ]]
}

# 1. A pulumi the user already has, with its language host beside it or on PATH.
if command -v pulumi >/dev/null 2>&1; then
  have="$(pulumi version 2>/dev/null || true)"
  dir="$(dirname "$(command -v pulumi)")"
  if [[ -n "$have" ]] && version_ge "$have" "$PINNED"; then
    if [[ -x "$dir/pulumi-language-nodejs" ]] || command -v pulumi-language-nodejs >/dev/null 2>&1; then
      log "using pulumi $have from PATH ($dir)"
      echo "$dir"
      exit 0
    fi
    log "pulumi $have on PATH has no pulumi-language-nodejs beside it; not using it"
  else
    log "pulumi on PATH is ${have:-unknown}, older than the pinned @pulumi/pulumi $PINNED; not using it"
  fi
fi

# The dynamic provider plugin ships inside @pulumi/pulumi (a small sh script that finds the SDK from the
# program's directory); the CLI's own distribution bundles it beside `pulumi`, so ours does too.
bundle_dynamic_plugin() {
  cp "$REPO/node_modules/@pulumi/pulumi/pulumi-resource-pulumi-nodejs" "$BIN/pulumi-resource-pulumi-nodejs"
  chmod +x "$BIN/pulumi-resource-pulumi-nodejs"
}

# 2. A cached build.
if [[ -x "$BIN/pulumi" && -x "$BIN/pulumi-language-nodejs" ]]; then
  [[ -x "$BIN/pulumi-resource-pulumi-nodejs" ]] || bundle_dynamic_plugin
  log "using cached build in $BIN ($(cat "$CACHE/SOURCE" 2>/dev/null || echo 'origin unknown'))"
  echo "$BIN"
  exit 0
fi

command -v go >/dev/null 2>&1 || die "pulumi is not on PATH, no cached build in $BIN, and no Go toolchain to build one"
export GOFLAGS="${GOFLAGS:-} -mod=mod"
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
mkdir -p "$CACHE"
START=$(date +%s)
LDFLAGS_PKG="github.com/pulumi/pulumi/sdk/v3/go/common/version.Version"

finish() {
  local origin="$1"
  bundle_dynamic_plugin
  echo "$origin" >"$CACHE/SOURCE"
  log "built in $(($(date +%s) - START))s: $("$BIN/pulumi" version) ($origin)"
  echo "$BIN"
  exit 0
}

NODE="$REPO/node_modules/.bin/node"
[[ -x "$NODE" ]] || NODE=node

# The non-local replace lines of a go.mod, as go mod edit -replace args.
nonlocal_replaces() {
  go mod edit -json "$1" | "$NODE" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{for(const r of JSON.parse(s).Replace??[]){if(!r.New.Version)continue;const old=r.Old.Version?r.Old.Path+"@"+r.Old.Version:r.Old.Path;console.log("-replace="+old+"="+r.New.Path+"@"+r.New.Version)}})'
}

# 3. Build from the Go module proxy: a throwaway wrapper module requiring both commands at the pinned version.
build_from_proxy() {
  local w="$CACHE/wrapper" lang_mod="github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3"
  local rev lang_ver
  log "looking for pulumi v$PINNED on the Go module proxy"
  rm -rf "$w" && mkdir -p "$w"
  (cd "$w" && go mod init openstack-vcluster-pulumi-wrapper >/dev/null 2>&1) || return 1
  # The language host is untagged: resolve it by the commit of the pkg/v3 tag.
  rev="$(cd "$w" && go list -m -f '{{.Origin.Hash}}' "github.com/pulumi/pulumi/pkg/v3@v$PINNED" 2>&1)" || {
    log "the Go module proxy does not serve github.com/pulumi/pulumi/pkg/v3@v$PINNED: ${rev##*$'\n'}"
    return 1
  }
  lang_ver="$(cd "$w" && go list -m -f '{{.Version}}' "$lang_mod@$rev" 2>&1)" || {
    log "the Go module proxy does not serve $lang_mod at commit $rev: ${lang_ver##*$'\n'}"
    return 1
  }
  log "building pulumi v$PINNED from Go modules, first time only (about 6-10 minutes on 2 cores)"
  (cd "$w" && go mod download "github.com/pulumi/pulumi/pkg/v3@v$PINNED" "$lang_mod@$lang_ver") || return 1
  # `go install pkg@v` refuses modules with replace lines; repeat their non-local replaces here.
  local d reps
  for d in $(cd "$w" && go list -m -f '{{.Dir}}' "github.com/pulumi/pulumi/pkg/v3@v$PINNED" "$lang_mod@$lang_ver"); do
    reps="$(nonlocal_replaces "$d/go.mod")"
    # shellcheck disable=SC2086
    [[ -z "$reps" ]] || (cd "$w" && go mod edit $reps)
  done
  (cd "$w" && go mod edit -require="github.com/pulumi/pulumi/pkg/v3@v$PINNED" -require="$lang_mod@$lang_ver")
  log "compiling (nice -n 19; GOMODCACHE and GOCACHE kept for the next time)"
  mkdir -p "$BIN"
  (cd "$w" && nice -n 19 go build -ldflags "-X $LDFLAGS_PKG=v$PINNED" -o "$BIN/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi) || return 1
  (cd "$w" && nice -n 19 go build -ldflags "-X $LDFLAGS_PKG=v$PINNED" -o "$BIN/pulumi-language-nodejs" "$lang_mod") || return 1
  finish "Go module proxy, pulumi v$PINNED"
}

if build_from_proxy; then exit 0; fi
rm -f "$BIN/pulumi" "$BIN/pulumi-language-nodejs"
die "cannot obtain pulumi v$PINNED: not on PATH (>= $PINNED), not cached in $BIN, and the Go module proxy does not serve github.com/pulumi/pulumi/pkg/v3@v$PINNED (see above); install pulumi >= $PINNED on PATH"
