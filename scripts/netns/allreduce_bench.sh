#!/usr/bin/env bash
# All-reduce bus bandwidth across 4 "hosts": 4 network namespaces, each with
# one veth link into a switch namespace (a Linux bridge), every link limited
# to RATE (default 1gbit) in both directions with tc's token bucket filter.
# Runs one cos-allreduce-bench executor per host for a 64 MiB buffer and
# LeNet's gradient (431080 floats, 1.72 MB) and prints bus bandwidth
# (2(n-1)/n x bytes / time, NCCL's definition) against the link rate.
# Everything it creates is removed on exit, even on error or Ctrl-C.
#
# Needs root (ip netns, tc) and Go. Usage:
#   scripts/netns/allreduce_bench.sh [-n hosts] [-r rate] [-i iters]
set -euo pipefail

N=4
RATE=1gbit
ITERS=5
while getopts "n:r:i:" opt; do
	case $opt in
	n) N=$OPTARG ;;
	r) RATE=$OPTARG ;;
	i) ITERS=$OPTARG ;;
	*) echo "usage: $0 [-n hosts] [-r rate] [-i iters]" >&2; exit 2 ;;
	esac
done
if [ "$(id -u)" != 0 ]; then
	echo "$0: needs root (network namespaces, tc)" >&2
	exit 1
fi

rate_bits() { # tc rate -> bit/s (tc's units are powers of 1000)
	local r=$1
	case $r in
	*gbit) echo $(( ${r%gbit} * 1000000000 )) ;;
	*mbit) echo $(( ${r%mbit} * 1000000 )) ;;
	*kbit) echo $(( ${r%kbit} * 1000 )) ;;
	*) echo "$r" ;;
	esac
}
LINK_BITS=$(rate_bits "$RATE")

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TAG=cos$$
SW=$TAG-sw
WORK=$(mktemp -d)
BIN=$WORK/cos-allreduce-bench
PIDS=()

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for i in $(seq 0 $((N - 1))); do ip netns del "$TAG-h$i" 2>/dev/null || true; done
	ip netns del "$SW" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

echo "building cos-allreduce-bench"
(cd "$ROOT" && go build -o "$BIN" ./distri/cmd/cos-allreduce-bench)

ip netns add "$SW"
ip -n "$SW" link set lo up
ip -n "$SW" link add br0 type bridge
ip -n "$SW" link set br0 up
for i in $(seq 0 $((N - 1))); do
	h=$TAG-h$i
	ip netns add "$h"
	ip -n "$h" link set lo up
	ip link add "${TAG}a$i" type veth peer name "${TAG}b$i"
	ip link set "${TAG}a$i" netns "$h"
	ip link set "${TAG}b$i" netns "$SW"
	ip -n "$h" link set "${TAG}a$i" name eth0
	ip -n "$SW" link set "${TAG}b$i" name "p$i"
	ip -n "$h" addr add "10.77.0.$((i + 1))/24" dev eth0
	ip -n "$h" link set eth0 up
	ip -n "$SW" link set "p$i" master br0
	ip -n "$SW" link set "p$i" up
	# The host's outgoing and incoming traffic, each limited to RATE: a
	# full-duplex link. The bucket holds a few 64 KiB GSO segments.
	tc -n "$h" qdisc add dev eth0 root tbf rate "$RATE" burst 256kb latency 20ms
	tc -n "$SW" qdisc add dev "p$i" root tbf rate "$RATE" burst 256kb latency 20ms
done
echo "$N hosts on a bridge, every link limited to $RATE each way"

TOKEN=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
# The namespaces share this kernel and /dev/shm, so the executors would
# otherwise all-reduce through shared memory: COS_SHM=0 keeps the data on
# the links this bench measures.
for i in $(seq 0 $((N - 1))); do
	ip netns exec "$TAG-h$i" env COS_SHM=0 COS_RANK=$i COS_WORLD_SIZE=$N COS_MASTER=10.77.0.1:29500 \
		COS_JOB_TOKEN="$TOKEN" COS_LISTEN="10.77.0.$((i + 1)):$((i == 0 ? 29500 : 0))" \
		"$BIN" -iters "$ITERS" -link "$LINK_BITS" >"$WORK/out$i" 2>&1 &
	PIDS+=($!)
done
status=0
for i in "${!PIDS[@]}"; do
	if ! wait "${PIDS[$i]}"; then
		echo "executor $i failed:" >&2
		cat "$WORK/out$i" >&2
		status=1
	fi
done
PIDS=()
cat "$WORK/out0"
exit $status
