# Shared by up.sh and down.sh: where the dev cloud keeps its state (outside the repository).
S=${VCLUSTER_DEVCLOUD_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/openstack-vcluster/devcloud}
E=$S/etc
R=$S/run
PIDS=$R/pids
