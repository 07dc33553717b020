#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, in a folder of its own: to try the Slurm path
# (scripts/slurm/run.sh) without a cluster, and to benchmark it with shards as array tasks
# on one node. Same configuration as the test's (tests/slurm/cluster.rs): its own MUNGE key
# and socket, its own ports, state and spool folders, so it touches nothing of the
# machine's own Slurm; root is needed (slurmd runs jobs as their users).
#
#   scripts/slurm/local-cluster.sh start DIR [--cpus N]   installs slurm-wlm and munge when absent
#   export SLURM_CONF=DIR/slurm.conf                        then run.sh, sbatch, squeue ... as usual
#   scripts/slurm/local-cluster.sh stop DIR                 cancels the jobs, stops the daemons by pid
#   scripts/slurm/local-cluster.sh conf DIR [--cpus N] [--stand-in-gpus N]
#       only writes the folder, MUNGE key and slurm.conf (node local1), for a caller that runs
#       the daemons itself (tests/slurm/cluster.rs); N stand-in GPUs are device files every
#       machine has, so that --gpus-per-task requests are scheduled without a GPU
set -euo pipefail

die() { echo "local-cluster: $*" >&2; exit 2; }
usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }

cmd=${1:-}; dir=${2:-}
case "$cmd" in
  start|stop|conf) [ -n "$dir" ] || die "$cmd needs a folder" ;;
  -h|--help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac
shift 2
cpus=$(nproc) gpus=0
while [ $# -gt 0 ]; do
  case "$1" in
    --cpus) [ $# -ge 2 ] || die "--cpus needs a value"; cpus=$2; shift 2 ;;
    --stand-in-gpus) [ $# -ge 2 ] || die "--stand-in-gpus needs a value"; gpus=$2; shift 2 ;;
    *) die "unknown option $1" ;;
  esac
done
[[ $cpus =~ ^[1-9][0-9]*$ ]] || die "--cpus must be a positive integer (got '$cpus')"
[[ $gpus =~ ^[0-4]$ ]] || die "--stand-in-gpus must be 0 to 4 (got '$gpus')"

programs=(munged slurmctld slurmd sbatch sinfo squeue scancel scontrol)
PATH=$PATH:/usr/sbin:/sbin

stop() {
  local conf=$dir/slurm.conf
  [ -f "$conf" ] || die "no cluster in $dir (no slurm.conf)"
  SLURM_CONF=$conf scancel --user="$(id -un)" 2>/dev/null || true
  for name in slurmd slurmctld munged; do
    local pidfile=$dir/run/$name.pid
    [ -f "$pidfile" ] || continue
    local pid; pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$pidfile"
  done
  echo "local-cluster: stopped the cluster in $dir"
}

# The folder, its MUNGE key and slurm.conf (and gres.conf with stand-in GPUs); no daemon.
conf() {
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  chmod 755 "$dir"
  mkdir -p "$dir"/{munge,run,state,spool,log}
  chmod 700 "$dir/munge"
  [ -f "$dir/munge/munge.key" ] || { head -c 1024 /dev/urandom > "$dir/munge/munge.key"; chmod 400 "$dir/munge/munge.key"; }
  local host port_ctld port_d
  # mem stays global: start reports it.
  host=$(hostname -s)
  read -r port_ctld port_d < <(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1", 0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
  mem=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)
  local gres="" gres_types=""
  if [ "$gpus" -gt 0 ]; then
    gres=" Gres=gpu:$gpus" gres_types="GresTypes=gpu"
    local files=(/dev/null /dev/zero /dev/full /dev/urandom) g
    : > "$dir/gres.conf"
    for g in $(seq 0 $((gpus - 1))); do echo "NodeName=local1 Name=gpu File=${files[$g]}" >> "$dir/gres.conf"; done
  fi
  cat > "$dir/slurm.conf" <<EOF
ClusterName=swanlocal$$
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port_ctld
SlurmdPort=$port_d
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/run/munge.sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmdParameters=config_overrides
KillWait=5
MinJobAge=600
$gres_types
NodeName=local1 NodeHostname=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem$gres State=UNKNOWN
PartitionName=local Nodes=local1 Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
  [ "$(id -u)" = 0 ] || die "start needs root (slurmd runs jobs as their users)"
  local missing=0 p
  for p in "${programs[@]}"; do command -v "$p" >/dev/null || missing=1; done
  if [ $missing = 1 ]; then
    echo "local-cluster: installing slurm-wlm and munge" >&2
    # Keep the packages' scripts from starting the machine's own daemons.
    local own_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; own_policy=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends slurm-wlm munge >/dev/null \
      || { apt-get -o DPkg::Lock::Timeout=600 update >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends slurm-wlm munge >/dev/null; }
    [ $own_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
  fi
  [ ! -f "$dir/run/slurmctld.pid" ] || ! kill -0 "$(cat "$dir/run/slurmctld.pid")" 2>/dev/null || die "a cluster is already running in $dir"
  conf
  export SLURM_CONF=$dir/slurm.conf
  munged --key-file="$dir/munge/munge.key" --socket="$dir/run/munge.sock" --pid-file="$dir/run/munged.pid" \
    --seed-file="$dir/munge/munged.seed" --log-file="$dir/log/munged.log"
  for _ in $(seq 100); do [ -S "$dir/run/munge.sock" ] && break; sleep 0.1; done
  [ -S "$dir/run/munge.sock" ] || die "munged did not start (see $dir/log/munged.log)"
  # Daemonised: each writes its pid file, which stop reads.
  slurmctld -f "$dir/slurm.conf"
  slurmd -N local1 -f "$dir/slurm.conf"
  local state=""
  for _ in $(seq 300); do
    state=$(sinfo -h -N -o %T 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 0.1
  done
  [ "$state" = idle ] || die "the node is not idle after 30 s (state '$state'; logs in $dir/log)"
  echo "local-cluster: running in $dir ($cpus CPUs, ${mem} MiB); export SLURM_CONF=$dir/slurm.conf"
}

"$cmd"
