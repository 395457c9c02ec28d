#!/usr/bin/env bash
# Obtain the `pulumi` CLI without the CLI's download site. Prints the directory holding `pulumi` on
# stdout; progress goes to stderr, one line per step. Order: PATH -> cache -> build from the Go module
# proxy. No Node.js language host is needed: programs run through the runtime that @pulumi/pulumi
# serves itself (test/tools/pulumi-inline.js) when no `pulumi-language-nodejs` is installed.
set -euo pipefail

# The CLI we build. Pinned here, and only here, because the Go module proxy serves just some tags of
# github.com/pulumi/pulumi/pkg/v3 (v3.274.1 yes, v3.270.0 no). The CLI must be at least as new as the
# installed @pulumi/pulumi (checked below); it speaks to older SDKs fine.
PULUMI_CLI_VERSION=3.274.1

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
log() { printf 'get-pulumi: %s\n' "$*" >&2; }
die() {
  printf 'get-pulumi: FAILED: %s\n' "$*" >&2
  exit 1
}

PKG_JSON="$REPO/node_modules/@pulumi/pulumi/package.json"
[[ -f "$PKG_JSON" ]] || die "no $PKG_JSON; run 'npm install' first"
SDK="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$PKG_JSON" | head -n1)"
[[ -n "$SDK" ]] || die "cannot read the @pulumi/pulumi version from $PKG_JSON"

# version_ge A B: A >= B for dotted numeric versions (a leading "v" and any "-suffix" ignored).
version_ge() {
  local a="${1#v}" b="${2#v}"
  a="${a%%[-+]*}"
  b="${b%%[-+]*}"
  [[ "$(printf '%s\n%s\n' "$a" "$b" | sort -V | head -n1)" == "$b" ]]
}
version_ge "$PULUMI_CLI_VERSION" "$SDK" ||
  die "@pulumi/pulumi $SDK is newer than the pinned CLI $PULUMI_CLI_VERSION; raise PULUMI_CLI_VERSION in $0 to a version the Go module proxy serves"

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/openstack-vcluster/pulumi-v$PULUMI_CLI_VERSION"
BIN="$CACHE/bin"

# The dynamic provider plugin ships inside @pulumi/pulumi (a small sh script that finds the SDK from the
# program's directory); the CLI's own distribution bundles it beside `pulumi`, so ours does too.
bundle_dynamic_plugin() {
  cp "$REPO/node_modules/@pulumi/pulumi/pulumi-resource-pulumi-nodejs" "$BIN/pulumi-resource-pulumi-nodejs"
  chmod +x "$BIN/pulumi-resource-pulumi-nodejs"
}

# 1. A pulumi the user already has.
if command -v pulumi >/dev/null 2>&1; then
  have="$(pulumi version 2>/dev/null || true)"
  if [[ -n "$have" ]] && version_ge "$have" "$SDK"; then
    log "using pulumi $have from PATH ($(dirname "$(command -v pulumi)"))"
    dirname "$(command -v pulumi)"
    exit 0
  fi
  log "pulumi on PATH is ${have:-unknown}, older than @pulumi/pulumi $SDK; not using it"
fi

mkdir -p "$CACHE"
# Two runs at once (the demo and a test, say) build once: the second waits here.
exec 9>"$CACHE/.lock"
if ! flock -n 9; then
  log "another run is building pulumi v$PULUMI_CLI_VERSION in $CACHE; waiting for it"
  flock 9
fi

# 2. A cached build.
if [[ -x "$BIN/pulumi" ]]; then
  [[ -x "$BIN/pulumi-resource-pulumi-nodejs" ]] || bundle_dynamic_plugin
  log "using pulumi v$PULUMI_CLI_VERSION built earlier ($BIN)"
  echo "$BIN"
  exit 0
fi

# 3. Build from the Go module proxy, in a throwaway wrapper module outside the repo. The Go module and
# build caches stay at their defaults (outside the repo), so a rebuild after a cache wipe is quicker.
command -v go >/dev/null 2>&1 ||
  die "no pulumi on PATH, none built in $BIN, and no Go toolchain to build one; install pulumi >= $SDK"
export GOFLAGS="-mod=mod"
export GOTOOLCHAIN=local
START=$(date +%s)
PKG=github.com/pulumi/pulumi/pkg/v3
W="$CACHE/wrapper"
log "building pulumi v$PULUMI_CLI_VERSION from Go modules, once: about 6 minutes on a quiet 2-core machine (up to 25 under load); later runs reuse $BIN"
build() {
  rm -rf "$W" && mkdir -p "$W" && cd "$W"
  go mod init openstack-vcluster-pulumi-wrapper >/dev/null 2>&1
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s/cmd/pulumi"\n' "$PKG" >tools.go
  go mod edit -require="$PKG@v$PULUMI_CLI_VERSION" -require="github.com/pulumi/pulumi/sdk/v3@v$PULUMI_CLI_VERSION"
  go mod download "$PKG@v$PULUMI_CLI_VERSION"
  # pkg/v3's own go.mod replaces some modules (a fork of a clipboard library); a requiring module must
  # repeat its non-local replace lines or the build picks the originals.
  local reps
  reps="$(go mod edit -json "$(go list -m -f '{{.Dir}}' "$PKG@v$PULUMI_CLI_VERSION")/go.mod" |
    sed -n '/"Replace"/,$p' | tr -d ' \n' | grep -o '"Old":{[^}]*},"New":{[^}]*}' |
    sed -n 's/"Old":{"Path":"\([^"]*\)"\(,"Version":"\([^"]*\)"\)\{0,1\}},"New":{"Path":"\([^"]*\)","Version":"\([^"]*\)"}/-replace=\1=\4@\5/p')"
  # shellcheck disable=SC2086
  [[ -z "$reps" ]] || go mod edit $reps
  go mod tidy
  mkdir -p "$BIN"
  nice -n 10 go build -trimpath -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_CLI_VERSION" \
    -o "$BIN/pulumi.partial" "$PKG/cmd/pulumi"
  mv "$BIN/pulumi.partial" "$BIN/pulumi"
}
if ! (build) >"$CACHE/build.log" 2>&1; then
  rm -f "$BIN/pulumi" "$BIN/pulumi.partial"
  die "building pulumi v$PULUMI_CLI_VERSION from the Go module proxy failed (last line: $(tail -n1 "$CACHE/build.log")); full log in $CACHE/build.log"
fi
bundle_dynamic_plugin
log "built in $(($(date +%s) - START))s: pulumi $("$BIN/pulumi" version)"
echo "$BIN"
