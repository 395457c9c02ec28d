#!/bin/bash
# The project's OpenStack dev cloud: Debian 12 (Zed) packages, everything on 127.0.0.1, real Keystone tokens
# validated by keystonemiddleware in every service. Nova with NCOMPUTE fake hypervisors (fake.FakeDriver) in
# two zones and racks (aggregates with metadata rack=...), Placement, Glance, Neutron (server only: two shared
# flat networks whose ports our ML2 driver binds, neutron/devcloud_mech.py), Cinder with one fake volume host per
# compute host and two volume types. Keypairs and a security group for both users. Writes clouds.yaml (clouds
# "devcloud-admin" and "devcloud-member", servers on network devnet) and resources.json (the networks' ids) into
# the state dir and records every PID for down.sh. Idempotent: a second run restarts what isn't running.
#
#   test/openstack/devcloud/up.sh      # install (first time), configure, start, bootstrap, wait until ready
#   test/openstack/devcloud/down.sh    # stop by recorded PIDs
#
# Knobs: VCLUSTER_DEVCLOUD_DIR (state dir), NCOMPUTE (fake hosts, default 4, at least 2), SKIP_INSTALL=1.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
NCOMPUTE=${NCOMPUTE:-4}
export DEBIAN_FRONTEND=noninteractive
PY=/usr/bin/python3 # Debian's python: another python3 may come first on PATH
DB="mysql+pymysql://os:os@127.0.0.1"
RMQ="rabbit://guest:guest@127.0.0.1:5672/"
KS=http://127.0.0.1:5000
REGION=RegionOne
T0=$(date +%s.%N)
mkdir -p "$R/log" "$R/lock" "$PIDS"
ts() { printf '[%6.1fs] %s\n' "$(echo "$(date +%s.%N) - $T0" | bc)" "$*" | tee -a "$R/timings.txt"; }
die() { echo "devcloud: $*" >&2; exit 1; }
trap 'echo "devcloud: failed at line $LINENO (logs in $R/log)" >&2' ERR

# ------------------------------------------------------------------ 0. already up?
alive=0; total=0
for f in "$PIDS"/*.pid; do [ -f "$f" ] || continue; total=$((total + 1)); kill -0 "$(cat "$f")" 2>/dev/null && alive=$((alive + 1)); done
if [ "$total" -gt 0 ] && [ "$alive" -eq "$total" ] && [ -f "$S/clouds.yaml" ] && [ -f "$S/ready" ]; then
  echo "devcloud: already running ($alive processes); clouds.yaml: $S/clouds.yaml"; exit 0
fi
[ "$total" -gt 0 ] && "$HERE/down.sh"
rm -f "$S/ready"

# ------------------------------------------------------------------ 1. packages
PKGS="keystone nova-api nova-conductor nova-scheduler nova-compute nova-compute-ironic placement-api glance-api
      neutron-api cinder-api cinder-scheduler cinder-volume rabbitmq-server mariadb-server jq bc curl"
if [ "${SKIP_INSTALL:-0}" != 1 ]; then
  missing=$(dpkg-query -W -f='${Package} ${Status}\n' $PKGS 2>/dev/null | grep -vc 'install ok installed' || true)
  if [ "$missing" != 0 ] || [ "$(dpkg-query -W $PKGS 2>/dev/null | wc -l)" -lt "$(echo $PKGS | wc -w)" ]; then
    # postinst scripts call invoke-rc.d: without this they would start every daemon on 0.0.0.0.
    if [ ! -x /usr/sbin/policy-rc.d ] || ! grep -q 'exit 101' /usr/sbin/policy-rc.d; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
    fi
    nice -n 10 apt-get update -q > "$R/log/apt-update.log" 2>&1
    # nova-compute needs a hypervisor package: -ironic is the one without libvirt. Debconf questions default to no.
    nice -n 10 apt-get install -y -q --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $PKGS > "$R/log/apt.log" 2>&1 ||
      die "apt-get install failed, see $R/log/apt.log"
    ts "packages installed"
  fi
fi

# ------------------------------------------------------------------ 2. configuration
mkdir -p "$E"/{keystone,nova,placement,glance,neutron,cinder,rabbitmq} \
  "$R"/{nova,glance/images,glance/staging,glance/tasks,neutron,cinder,rabbit,mysql,keystone/fernet,keystone/credential}
pw() { echo "devcloud-$1"; } # dev-only passwords, loopback only

authtoken() { # keystonemiddleware section for service $1
  cat <<EOT
[keystone_authtoken]
www_authenticate_uri = $KS
auth_url = $KS
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $(pw "$1")
region_name = $REGION
service_token_roles_required = true
EOT
}
svcauth() { # keystoneauth password plugin options for a service-to-service section, as user $1
  cat <<EOT
auth_type = password
auth_url = $KS
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $(pw "$1")
region_name = $REGION
valid_interfaces = public
EOT
}

cat > "$E/my.cnf" <<EOF
[mysqld]
datadir = $R/mysql
socket = $R/mysql.sock
pid-file = $R/mysql.pidfile
bind-address = 127.0.0.1
port = 3306
user = root
skip-name-resolve
skip-log-bin
max_connections = 1000
innodb_buffer_pool_size = 128M
innodb_flush_log_at_trx_commit = 0
innodb_doublewrite = 0
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
EOF
cat > "$E/rabbitmq/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:5672
loopback_users.guest = true
log.console = true
log.file = false
EOF
echo '[].' > "$R/rabbit/enabled_plugins"

cat > "$E/keystone/keystone.conf" <<EOF
[DEFAULT]
log_file = $R/log/keystone-app.log
[database]
connection = $DB/keystone
[token]
provider = fernet
expiration = 3600
[fernet_tokens]
key_repository = $R/keystone/fernet
[fernet_receipts]
key_repository = $R/keystone/fernet
[credential]
key_repository = $R/keystone/credential
EOF

{ printf '[api]\nauth_strategy = keystone\n[placement_database]\nconnection = %s/placement\n' "$DB"; authtoken placement; } \
  > "$E/placement/placement.conf"

cat > "$E/nova/nova.conf" <<EOF
[DEFAULT]
graceful_shutdown_timeout = 5
transport_url = $RMQ
state_path = $R/nova
my_ip = 127.0.0.1
host = controller
compute_driver = fake.FakeDriver
enabled_apis = osapi_compute
osapi_compute_listen = 127.0.0.1
osapi_compute_listen_port = 8774
osapi_compute_workers = 2
[api]
auth_strategy = keystone
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = -1
[filter_scheduler]
# The group filters are Nova's defaults; same_host/different_host need SameHostFilter/DifferentHostFilter.
enabled_filters = AvailabilityZoneFilter,ComputeFilter,ComputeCapabilitiesFilter,ImagePropertiesFilter,ServerGroupAntiAffinityFilter,ServerGroupAffinityFilter,SameHostFilter,DifferentHostFilter
[placement]
$(svcauth nova)
[neutron]
$(svcauth nova)
[cinder]
os_region_name = $REGION
$(svcauth nova)
[glance]
valid_interfaces = public
region_name = $REGION
[service_user]
# Cinder lets only a service delete an in-use attachment (detach): Nova proves it with X-Service-Token.
send_service_user_token = true
$(svcauth nova)
[quota]
instances = -1
cores = -1
ram = -1
server_groups = -1
server_group_members = -1
[oslo_concurrency]
lock_path = $R/lock
[oslo_messaging_notifications]
driver = noop
[vnc]
enabled = false
$(authtoken nova)
EOF
printf '[api_database]\nconnection = %s/nova_api\n[database]\nconnection = %s/nova\n' "$DB" "$DB" > "$E/nova/nova-db.conf"
for h in $(seq 1 "$NCOMPUTE"); do
  mkdir -p "$R/nova-compute$h"
  printf '[DEFAULT]\nhost = fake-host-%s\nstate_path = %s\n' "$h" "$R/nova-compute$h" > "$E/nova/compute$h.conf"
done

cat > "$E/glance/glance-api.conf" <<EOF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = 9292
workers = 1
[database]
connection = $DB/glance
[paste_deploy]
flavor = keystone
config_file = /etc/glance/glance-api-paste.ini
[glance_store]
stores = file,http
default_store = file
filesystem_store_datadir = $R/glance/images
[os_glance_staging_store]
filesystem_store_datadir = $R/glance/staging
[os_glance_tasks_store]
filesystem_store_datadir = $R/glance/tasks
[oslo_concurrency]
lock_path = $R/lock
$(authtoken glance)
EOF

cat > "$E/neutron/neutron.conf" <<EOF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = 9696
api_workers = 1
rpc_workers = 1
rpc_state_report_workers = 0
auth_strategy = keystone
core_plugin = ml2
# port_forwarding must be loaded, or GET /v2.0/ports fails (Port.port_forwardings missing)
service_plugins = router,port_forwarding
transport_url = $RMQ
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
state_path = $R/neutron
api_paste_config = /etc/neutron/api-paste.ini
[database]
connection = $DB/neutron
[oslo_concurrency]
lock_path = $R/lock
[ml2]
type_drivers = flat
tenant_network_types =
# No agent here: our driver binds every port (neutron/devcloud_mech.py), or Nova fails the server.
mechanism_drivers = devcloud
extension_drivers = port_security
[ml2_type_flat]
flat_networks = *
[nova]
$(svcauth neutron)
$(authtoken neutron)
EOF

cat > "$E/cinder/cinder.conf" <<EOF
[DEFAULT]
graceful_shutdown_timeout = 5
auth_strategy = keystone
host = controller
osapi_volume_listen = 127.0.0.1
osapi_volume_listen_port = 8776
osapi_volume_workers = 1
my_ip = 127.0.0.1
transport_url = $RMQ
state_path = $R/cinder
glance_api_servers = http://127.0.0.1:9292
storage_availability_zone = az1
default_availability_zone = az1
quota_volumes = -1
quota_snapshots = -1
quota_gigabytes = -1
quota_backups = -1
quota_backup_gigabytes = -1
enabled_backends = fake
# Cinder's defaults are AZ, Capacity, Capabilities: the hints need the three filters after them.
scheduler_default_filters = AvailabilityZoneFilter,CapacityFilter,CapabilitiesFilter,SameBackendFilter,DifferentBackendFilter,InstanceLocalityFilter
[database]
connection = $DB/cinder
[oslo_concurrency]
lock_path = $R/lock
[oslo_messaging_notifications]
driver = noop
[fake]
# No device-mapper in this kernel, so no LVM: Cinder's own test driver (shipped by Debian), plus extend.
volume_driver = devcloud_volume.FakeVolumeDriver
volume_backend_name = fake
[nova]
# InstanceLocalityFilter (local_to_instance) reads the server's host through Nova with these rights.
interface = public
$(svcauth cinder)
[service_user]
send_service_user_token = true
$(svcauth cinder)
$(authtoken cinder)
EOF
# Hosts 1..N/2 are in az1, the rest in az2; each cinder-volume host serves its compute host's zone.
zone_of() { if [ "$1" -le $((NCOMPUTE / 2)) ]; then echo az1; else echo az2; fi; }
# Racks: every host its own rack, except the last two hosts of az2, which share one.
rack_of() { if [ "$1" -ge $((NCOMPUTE - 1)) ] && [ "$NCOMPUTE" -ge 4 ]; then echo "r$((NCOMPUTE - 1))"; else echo "r$1"; fi; }
for h in $(seq 1 "$NCOMPUTE"); do
  printf '[DEFAULT]\nhost = fake-host-%s\nstorage_availability_zone = %s\n' "$h" "$(zone_of "$h")" > "$E/cinder/volume$h.conf"
done
ts "config written in $E"

# ------------------------------------------------------------------ 3. mariadb + rabbitmq
start() { local n=$1; shift; nohup "$@" > "$R/log/$n.log" 2>&1 & echo $! > "$PIDS/$n.pid"; }
waitport() { local p=$1 i; for i in $(seq 1 240); do (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null && return 0; sleep 0.25; done; die "port $p never opened (logs in $R/log)"; }

if [ ! -d "$R/mysql/mysql" ]; then
  mariadb-install-db --no-defaults --datadir="$R/mysql" --user=root \
    --auth-root-authentication-method=socket --skip-test-db > "$R/log/mysql-install.log" 2>&1
fi
start mysql /usr/sbin/mariadbd --defaults-file="$E/my.cnf"
start epmd /usr/bin/epmd -address 127.0.0.1
(
  export HOME=$R/rabbit RABBITMQ_CONFIG_FILE=$E/rabbitmq/rabbitmq.conf RABBITMQ_NODENAME=rabbit@localhost \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=5672 RABBITMQ_MNESIA_BASE=$R/rabbit/mnesia \
    RABBITMQ_LOG_BASE=$R/log RABBITMQ_ENABLED_PLUGINS_FILE=$R/rabbit/enabled_plugins \
    RABBITMQ_CONF_ENV_FILE=/dev/null ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_DIST_PORT=25672 \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  start rabbitmq /usr/lib/rabbitmq/bin/rabbitmq-server
)
waitport 3306
DBS="keystone nova_api nova nova_cell0 placement glance neutron cinder"
mariadb --socket="$R/mysql.sock" -e "CREATE USER IF NOT EXISTS 'os'@'127.0.0.1' IDENTIFIED BY 'os';
  GRANT ALL ON *.* TO 'os'@'127.0.0.1'; $(for d in $DBS; do echo "CREATE DATABASE IF NOT EXISTS $d;"; done)"
ts "mariadb up"

# ------------------------------------------------------------------ 4. schemas (in parallel)
NC="--config-file $E/nova/nova.conf --config-file $E/nova/nova-db.conf"
KC="--config-file $E/keystone/keystone.conf"
# Schemas only change with the packages: skip the (slow) syncs when the same versions did them already.
SCHEMA_STAMP=$(dpkg-query -W keystone nova-common placement-common glance-common neutron-common cinder-common | md5sum)
if [ "$(cat "$R/schemas.done" 2>/dev/null)" = "$SCHEMA_STAMP" ]; then
  ts "schemas up to date"
else
(
  keystone-manage $KC db_sync
  [ -f "$R/keystone/fernet/0" ] || keystone-manage $KC fernet_setup --keystone-user root --keystone-group root
  [ -f "$R/keystone/credential/0" ] || keystone-manage $KC credential_setup --keystone-user root --keystone-group root
) > "$R/log/dbsync-keystone.log" 2>&1 &
JOBS="$!"
(
  nova-manage $NC api_db sync
  nova-manage $NC cell_v2 map_cell0 --database_connection "$DB/nova_cell0"
  cells=$(nova-manage $NC cell_v2 list_cells 2>/dev/null || true)
  case "$cells" in *" cell1 "*) ;; *) nova-manage $NC cell_v2 create_cell --name cell1 ;; esac
  nova-manage $NC db sync
) > "$R/log/dbsync-nova.log" 2>&1 &
JOBS="$JOBS $!"
placement-manage --config-file "$E/placement/placement.conf" db sync > "$R/log/dbsync-placement.log" 2>&1 &
JOBS="$JOBS $!"
glance-manage --config-file "$E/glance/glance-api.conf" db_sync > "$R/log/dbsync-glance.log" 2>&1 &
JOBS="$JOBS $!"
neutron-db-manage --config-file "$E/neutron/neutron.conf" upgrade heads > "$R/log/dbsync-neutron.log" 2>&1 &
JOBS="$JOBS $!"
cinder-manage --config-file "$E/cinder/cinder.conf" db sync > "$R/log/dbsync-cinder.log" 2>&1 &
JOBS="$JOBS $!"
for j in $JOBS; do wait "$j" || die "a schema sync failed, see $R/log/dbsync-*.log"; done
echo "$SCHEMA_STAMP" > "$R/schemas.done"
ts "schemas synced"
fi

# ------------------------------------------------------------------ 5. keystone, then its users and catalog
OS_KEYSTONE_CONFIG_DIR=$E/keystone start keystone /usr/bin/uwsgi --plugins python3 --http-socket 127.0.0.1:5000 \
  --wsgi-file /usr/bin/keystone-wsgi-public --master --processes 2 --threads 4 --lazy-apps --die-on-term \
  --buffer-size 65535 --add-header "Connection: close" --env OS_KEYSTONE_CONFIG_DIR="$E/keystone"
# (uwsgi's http-socket closes every connection: say so, or keystoneauth reuses a dead one and fails.)
keystone-manage $KC bootstrap --bootstrap-password "$(pw admin)" --bootstrap-username admin \
  --bootstrap-project-name admin --bootstrap-role-name admin --bootstrap-region-id "$REGION" \
  --bootstrap-admin-url "$KS/v3" --bootstrap-internal-url "$KS/v3" --bootstrap-public-url "$KS/v3" \
  > "$R/log/keystone-bootstrap.log" 2>&1
waitport 5000
token() { # user password project -> token
  local body
  body=$(jq -nc --arg u "$1" --arg p "$2" --arg pr "$3" '{auth:{identity:{methods:["password"],password:{user:{name:$u,domain:{id:"default"},password:$p}}},scope:{project:{name:$pr,domain:{id:"default"}}}}}')
  for _ in $(seq 1 60); do
    t=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' -d "$body" "$KS/v3/auth/tokens" |
      awk 'tolower($1)=="x-subject-token:" {print $2}' | tr -d '\r')
    [ -n "$t" ] && { echo "$t"; return 0; }
    sleep 0.5
  done
  die "keystone gives no token for $1 (see $R/log/keystone*.log)"
}
ADMIN_TOKEN=$(token admin "$(pw admin)" admin)
api() { # method url [json] -> body
  # The compute microversion header only for Nova: Cinder refuses a request that names another service's version.
  local mv=(); case "$2" in *:8774/*) mv=(-H 'OpenStack-API-Version: compute 2.88') ;; esac
  curl -sf -X "$1" -H "X-Auth-Token: $ADMIN_TOKEN" -H 'Content-Type: application/json' "${mv[@]}" ${3:+-d "$3"} "$2"
}
ks_id() { api GET "$KS/v3/$1?name=$2" | jq -r ".$1[0].id // empty"; }
ensure() { # kind name json -> id
  local id; id=$(ks_id "$1" "$2")
  [ -n "$id" ] || id=$(api POST "$KS/v3/$1" "$3" | jq -r '.[keys[0]].id')
  echo "$id"
}
ensure_project() { ensure projects "$1" "{\"project\":{\"name\":\"$1\",\"domain_id\":\"default\"}}"; }
ensure_role() { ensure roles "$1" "{\"role\":{\"name\":\"$1\"}}"; }
ensure_user() { ensure users "$1" "{\"user\":{\"name\":\"$1\",\"domain_id\":\"default\",\"password\":\"$(pw "$1")\"}}"; }
grant() { api PUT "$KS/v3/projects/$1/users/$2/roles/$3" > /dev/null; }
SERVICE_P=$(ensure_project service)
DEMO_P=$(ensure_project demo)
ADMIN_R=$(ensure_role admin)
MEMBER_R=$(ensure_role member)
SERVICE_R=$(ensure_role service)
for u in nova placement glance neutron cinder; do
  id=$(ensure_user "$u"); grant "$SERVICE_P" "$id" "$ADMIN_R"; grant "$SERVICE_P" "$id" "$SERVICE_R"
done
DEMO_U=$(ensure_user demo); grant "$DEMO_P" "$DEMO_U" "$MEMBER_R"
endpoint() { # type name url
  local sid; sid=$(api GET "$KS/v3/services?type=$1" | jq -r '.services[0].id // empty')
  [ -n "$sid" ] || sid=$(api POST "$KS/v3/services" "{\"service\":{\"type\":\"$1\",\"name\":\"$2\"}}" | jq -r .service.id)
  for i in public internal admin; do
    n=$(api GET "$KS/v3/endpoints?service_id=$sid&interface=$i" | jq '.endpoints | length')
    [ "$n" -gt 0 ] || api POST "$KS/v3/endpoints" \
      "{\"endpoint\":{\"service_id\":\"$sid\",\"interface\":\"$i\",\"region_id\":\"$REGION\",\"url\":\"$3\"}}" > /dev/null
  done
}
endpoint compute nova "http://127.0.0.1:8774/v2.1"
endpoint placement placement "http://127.0.0.1:8778"
endpoint image glance "http://127.0.0.1:9292"
endpoint network neutron "http://127.0.0.1:9696"
endpoint volumev3 cinderv3 "http://127.0.0.1:8776/v3/%(project_id)s"
endpoint block-storage cinder "http://127.0.0.1:8776/v3/%(project_id)s"
ts "keystone up: users, projects and catalog in place"

# ------------------------------------------------------------------ 6. services
waitport 5672
ts "rabbitmq up"
OS_PLACEMENT_CONFIG_DIR=$E/placement start placement /usr/bin/placement-api --host 127.0.0.1 --port 8778
start glance-api /usr/bin/glance-api --config-file "$E/glance/glance-api.conf"
# The driver's entry point: neutron/devcloud_neutron-0.dist-info.
PYTHONPATH=$HERE/neutron start neutron-server /usr/bin/neutron-server --config-file "$E/neutron/neutron.conf"
start nova-api /usr/bin/nova-api $NC
start nova-conductor /usr/bin/nova-conductor $NC
start nova-scheduler /usr/bin/nova-scheduler $NC
start cinder-api /usr/bin/cinder-api --config-file "$E/cinder/cinder.conf"
start cinder-scheduler /usr/bin/cinder-scheduler --config-file "$E/cinder/cinder.conf"
waitport 8778 # computes need placement at startup
for h in $(seq 1 "$NCOMPUTE"); do
  start "nova-compute$h" /usr/bin/nova-compute --config-file "$E/nova/nova.conf" --config-file "$E/nova/compute$h.conf"
  PYTHONPATH=$HERE start "cinder-volume$h" /usr/bin/cinder-volume --config-file "$E/cinder/cinder.conf" --config-file "$E/cinder/volume$h.conf"
done
for p in 9292 9696 8774 8776; do waitport $p; done
ts "all API ports open"

# ------------------------------------------------------------------ 7. bootstrap data
N=http://127.0.0.1:8774/v2.1
# neutron: the first ports query after start fails unless some other query configured the ORM mappers
for _ in $(seq 1 60); do api GET http://127.0.0.1:9696/v2.0/networks > /dev/null && break; sleep 0.5; done
for _ in $(seq 1 240); do
  n=$(api GET http://127.0.0.1:8778/resource_providers | jq '.resource_providers | length' 2>/dev/null || echo 0)
  [ "$n" -ge "$NCOMPUTE" ] && break; sleep 0.5
done
nova-manage $NC cell_v2 discover_hosts > "$R/log/discover-hosts.log" 2>&1
flavor() { # id name vcpus ram disk
  api GET "$N/flavors/$1" > /dev/null 2>&1 ||
    api POST "$N/flavors" "{\"flavor\":{\"id\":\"$1\",\"name\":\"$2\",\"vcpus\":$3,\"ram\":$4,\"disk\":$5}}" > /dev/null
}
flavor 1 m1.tiny 1 512 1
flavor 2 m1.small 2 2048 5
# Bigger than any fake host: placement must call it impossible.
flavor 99 m1.huge 100000 1000000000 10000000
image() { # id name
  if ! api GET "http://127.0.0.1:9292/v2/images/$1" > /dev/null 2>&1; then
    api POST http://127.0.0.1:9292/v2/images \
      "{\"id\":\"$1\",\"name\":\"$2\",\"container_format\":\"bare\",\"disk_format\":\"raw\",\"visibility\":\"public\"}" > /dev/null
    head -c 65536 /dev/zero | curl -sf -H "X-Auth-Token: $ADMIN_TOKEN" -H 'Content-Type: application/octet-stream' \
      -X PUT "http://127.0.0.1:9292/v2/images/$1/file" --data-binary @- > /dev/null
  fi
}
image 11111111-2222-3333-4444-555555555555 fake-image
image 11111111-2222-3333-4444-666666666666 fake-image-2
# Zones and racks as aggregates (needs the hosts mapped above).
aggregate() { # name az-or-empty -> id
  local id; id=$(api GET "$N/os-aggregates" | jq -r --arg n "$1" '.aggregates[] | select(.name==$n) | .id' | head -1)
  if [ -z "$id" ]; then
    local az=""; [ -n "$2" ] && az=",\"availability_zone\":\"$2\""
    id=$(api POST "$N/os-aggregates" "{\"aggregate\":{\"name\":\"$1\"$az}}" | jq -r .aggregate.id)
  fi
  echo "$id"
}
add_host() { # aggregate-id host
  api GET "$N/os-aggregates/$1" | jq -e --arg h "$2" '.aggregate.hosts | index($h)' > /dev/null ||
    api POST "$N/os-aggregates/$1/action" "{\"add_host\":{\"host\":\"$2\"}}" > /dev/null
}
for h in $(seq 1 "$NCOMPUTE"); do
  add_host "$(aggregate "$(zone_of "$h")" "$(zone_of "$h")")" "fake-host-$h"
  r=$(rack_of "$h"); rid=$(aggregate "rack-$r" "")
  api POST "$N/os-aggregates/$rid/action" "{\"set_metadata\":{\"metadata\":{\"rack\":\"$r\"}}}" > /dev/null
  add_host "$rid" "fake-host-$h"
done
ts "bootstrap data: hosts mapped, zones and racks, flavors, images"

# Networks: two shared flat ones every project's servers can boot on and attach to; no DHCP (no agent to
# serve it), Neutron's IPAM still gives each port a fixed address.
NEUTRON=http://127.0.0.1:9696/v2.0
network() { # name cidr -> id
  local id n
  id=$(api GET "$NEUTRON/networks?name=$1" | jq -r '.networks[0].id // empty')
  [ -n "$id" ] || id=$(api POST "$NEUTRON/networks" \
    "{\"network\":{\"name\":\"$1\",\"shared\":true,\"provider:network_type\":\"flat\",\"provider:physical_network\":\"$1\"}}" |
    jq -r .network.id)
  n=$(api GET "$NEUTRON/subnets?network_id=$id" | jq '.subnets | length')
  [ "$n" -gt 0 ] || api POST "$NEUTRON/subnets" \
    "{\"subnet\":{\"name\":\"$1-v4\",\"network_id\":\"$id\",\"ip_version\":4,\"cidr\":\"$2\",\"enable_dhcp\":false}}" > /dev/null
  echo "$id"
}
NET1=$(network devnet 10.20.0.0/20)
NET2=$(network devnet2 10.21.0.0/20)
# Per project: a security group besides "default". Per user (keypairs are a user's): two keypairs, public
# halves only (nothing logs in to a fake host).
KEY1="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILiDCzUnG3JOsPnskNv6dT3XsVjpYuA+CnIS4O416T7Z devcloud-key-1"
KEY2="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL3ze6/TNIU7puLx/FymDngsh1az4SFe5xXSCZNhi2jz devcloud-key-2"
ADMIN_U=$(ks_id users admin)
for pair in "$(ks_id projects admin):$ADMIN_U" "$DEMO_P:$DEMO_U"; do
  p=${pair%%:*} u=${pair#*:}
  api GET "$NEUTRON/security-groups?name=devcloud-sg&project_id=$p" | jq -e '.security_groups | length > 0' > /dev/null ||
    api POST "$NEUTRON/security-groups" \
      "{\"security_group\":{\"name\":\"devcloud-sg\",\"description\":\"a group besides default\",\"project_id\":\"$p\"}}" > /dev/null
  for k in 1 2; do
    api GET "$N/os-keypairs/devcloud-key-$k?user_id=$u" > /dev/null 2>&1 || { key=KEY$k; api POST "$N/os-keypairs" \
      "{\"keypair\":{\"name\":\"devcloud-key-$k\",\"public_key\":\"${!key}\",\"user_id\":\"$u\"}}" > /dev/null; }
  done
done
# Volume types: both served by every fake volume host, so a retype between them stays on its host.
ADMIN_PID=$(ks_id projects admin)
for t in hdd ssd; do
  api GET "http://127.0.0.1:8776/v3/$ADMIN_PID/types" | jq -e --arg t "$t" '.volume_types | any(.name == $t)' > /dev/null ||
    api POST "http://127.0.0.1:8776/v3/$ADMIN_PID/types" \
      "{\"volume_type\":{\"name\":\"$t\",\"extra_specs\":{\"volume_backend_name\":\"fake\"}}}" > /dev/null
done
ts "bootstrap data: networks devnet, devnet2; security group, keypairs; volume types hdd, ssd"

# ------------------------------------------------------------------ 8. readiness
up=0
for _ in $(seq 1 120); do
  up=$(api GET "$N/os-hypervisors/detail" | jq '[.hypervisors[] | select(.state=="up" and .status=="enabled")] | length' 2>/dev/null || echo 0)
  [ "$up" -ge "$NCOMPUTE" ] && break; sleep 0.5
done
[ "$up" -ge "$NCOMPUTE" ] || die "only $up of $NCOMPUTE hypervisors up"
vup=0
for _ in $(seq 1 120); do
  vup=$(api GET "http://127.0.0.1:8776/v3/$ADMIN_PID/os-services" | jq '[.services[] | select(.binary=="cinder-volume" and .state=="up")] | length' 2>/dev/null || echo 0)
  [ "$vup" -ge "$NCOMPUTE" ] && break; sleep 0.5
done
[ "$vup" -ge "$NCOMPUTE" ] || die "only $vup of $NCOMPUTE cinder-volume hosts up"
# Cinder pools appear once the volume hosts report their capabilities to the scheduler.
for _ in $(seq 1 120); do
  np=$(api GET "http://127.0.0.1:8776/v3/$ADMIN_PID/scheduler-stats/get_pools" | jq '.pools | length' 2>/dev/null || echo 0)
  [ "$np" -ge "$NCOMPUTE" ] && break; sleep 0.5
done

cat > "$S/clouds.yaml" <<EOF
# Written by test/openstack/devcloud/up.sh: a dev cloud on 127.0.0.1 (dev-only passwords).
clouds:
  devcloud-admin:
    auth:
      auth_url: $KS/v3
      username: admin
      password: $(pw admin)
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: $REGION
    interface: public
    identity_api_version: 3
    vcluster_networks: $NET1
  devcloud-member:
    auth:
      auth_url: $KS/v3
      username: demo
      password: $(pw demo)
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: $REGION
    interface: public
    identity_api_version: 3
    vcluster_networks: $NET1
EOF
jq -n --arg a "$NET1" --arg b "$NET2" '{networks: {devnet: $a, devnet2: $b}}' > "$S/resources.json"
touch "$S/ready"
ts "READY: $up hypervisors, $vup volume hosts; OS_CLIENT_CONFIG_FILE=$S/clouds.yaml OS_CLOUD=devcloud-admin|devcloud-member"
