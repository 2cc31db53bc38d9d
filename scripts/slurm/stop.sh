#!/usr/bin/env bash
# Stop the daemons scripts/slurm/start.sh started (by their recorded pids,
# nothing else), and restore slurm.conf / cgroup.conf backups if any.
set -uo pipefail
STATE=${COS_SLURM_STATE:-/tmp/cos-slurm}
for d in slurmd slurmctld munged; do
	f=$STATE/$d.pid
	[ -f "$f" ] || continue
	pid=$(cat "$f")
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid"
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$f"
done
for f in slurm.conf cgroup.conf; do
	if [ -f /etc/slurm/$f.cos-backup ]; then
		mv /etc/slurm/$f.cos-backup /etc/slurm/$f
	fi
done
echo "slurm stopped"
