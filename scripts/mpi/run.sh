#!/usr/bin/env bash
# Run a cos command under Open MPI on this machine (Debian's openmpi-bin):
#
#   scripts/mpi/run.sh 2 cos-train -train -conf solver.prototxt -model m.caffemodel
#
# Each rank reads OMPI_COMM_WORLD_RANK / _SIZE. With all ranks on one host,
# rank 0 publishes its address in a rendezvous file in the temporary
# directory and generates the job token itself (see distri.Detect); across
# hosts export COS_MASTER=host:port or COS_RENDEZVOUS_FILE=/shared/path, and
# COS_JOB_TOKEN, and they are forwarded with -x. Running as root needs
# OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM), set here; --oversubscribe lets the
# number of ranks exceed the cores.
set -euo pipefail
if [ $# -lt 2 ]; then
	echo "usage: $0 N command [args...]" >&2
	exit 2
fi
N=$1
shift
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fwd=()
for v in COS_JOB_TOKEN COS_JOB_TOKEN_FILE COS_MASTER COS_RENDEZVOUS_FILE COS_FAIL_TIMEOUT; do
	if [ -n "${!v:-}" ]; then fwd+=(-x "$v"); fi
done
exec mpirun --oversubscribe -np "$N" "${fwd[@]}" "$@"
