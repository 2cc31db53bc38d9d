#!/usr/bin/env bash
# Start a single-node Slurm cluster (Debian's slurm-wlm 22.05 and munge) on
# this machine, for CI and local tries: no systemd, no accounting, no cgroup
# process tracking. Idempotent: a running cluster started by this script is
# left alone. stop.sh stops exactly the daemons this script started (their
# pids are recorded under $COS_SLURM_STATE).
#
#   scripts/slurm/start.sh [--install]   # --install: apt-get the packages if missing
#   srun -n 2 hostname
#   scripts/slurm/stop.sh
#
# Writes /etc/slurm/slurm.conf and /etc/slurm/cgroup.conf (previous files are
# kept as *.cos-backup) and /etc/munge/munge.key if there is none. Needs root.
set -euo pipefail

STATE=${COS_SLURM_STATE:-/tmp/cos-slurm}
if [ "$(id -u)" != 0 ]; then
	echo "$0: needs root" >&2
	exit 1
fi
if [ "${1:-}" = --install ] && ! command -v slurmctld >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y slurm-wlm munge openmpi-bin >/dev/null
fi
for b in munged slurmctld slurmd srun; do
	command -v $b >/dev/null || { echo "$0: $b not found (apt-get install slurm-wlm munge, or pass --install)" >&2; exit 1; }
done

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if alive "$STATE/slurmctld.pid" && alive "$STATE/slurmd.pid"; then
	echo "slurm already running (state in $STATE)"
	exit 0
fi
mkdir -p "$STATE/ctld" "$STATE/spool"

# munge: its run directory owned by munge, the key mode 400.
mkdir -p /run/munge /var/lib/munge /var/log/munge /etc/munge
chown munge:munge /run/munge /var/lib/munge /var/log/munge
chmod 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
	dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if ! alive "$STATE/munged.pid"; then
	rm -f /run/munge/munged.pid
	runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
	for _ in $(seq 50); do [ -s /run/munge/munged.pid ] && break; sleep 0.1; done
	cp /run/munge/munged.pid "$STATE/munged.pid"
fi

HOST=$(hostname -s)
CPUS=$(nproc)
mkdir -p /etc/slurm
for f in slurm.conf cgroup.conf; do
	if [ -f /etc/slurm/$f ] && ! grep -q "written by cos scripts/slurm/start.sh" /etc/slurm/$f; then
		cp /etc/slurm/$f /etc/slurm/$f.cos-backup
	fi
done
cat >/etc/slurm/slurm.conf <<CONF
# written by cos scripts/slurm/start.sh: a single-node cluster
ClusterName=cos
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SlurmdParameters=config_overrides
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
# slurmd 22.05 always loads a cgroup plugin, and the autodetected one fails
# on these hosts (hybrid cgroups, no systemd); v1 loads and is not used.
cat >/etc/slurm/cgroup.conf <<CONF
# written by cos scripts/slurm/start.sh
CgroupPlugin=cgroup/v1
CONF

/usr/sbin/slurmctld -i
/usr/sbin/slurmd
for _ in $(seq 100); do
	if sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
		echo "slurm running: node $HOST ($CPUS CPUs), state in $STATE"
		exit 0
	fi
	sleep 0.1
done
echo "$0: the node did not become idle; see $STATE/slurmctld.log and $STATE/slurmd.log" >&2
sinfo >&2 || true
exit 1
