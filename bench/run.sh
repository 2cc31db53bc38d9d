#!/usr/bin/env bash
# cos benchmark report (`make bench`): the machine's FMA peak, sgemm GFLOP/s
# for cos's native kernels vs gonum vs OpenBLAS on LeNet's shapes and 1024³,
# and LeNet / CIFAR-10 quick ms per training iteration for cos and PyTorch.
#
# The machine may be shared, so every figure is the best of several short
# rounds (the least disturbed one), and peers are timed in their own
# processes (OpenBLAS's threads spin after each call and would steal the
# cores from the next benchmark in the same process).
#
# Knobs: BENCH_ROUNDS (default 3), BENCH_TIME (go -benchtime per round,
# default 100ms), BENCH_SKIP_TORCH=1, BENCH_SKIP_OPENBLAS=1.
set -u
cd "$(dirname "$0")/.."
GO=${GO:-go}
ROUNDS=${BENCH_ROUNDS:-3}
BT=${BENCH_TIME:-100ms}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
touch "$TMP/gemm.txt" "$TMP/steps.txt"

# OpenBLAS (Debian's) only picks AVX-512/AVX2 kernels for CPUs it knows;
# name the core from the CPU's flags so it does not fall back to SSE. An
# inherited OPENBLAS_CORETYPE (some environments preset Haswell) is
# overridden so the peer runs its best kernels; BENCH_OPENBLAS_CORETYPE
# forces a choice.
if [ -n "${BENCH_OPENBLAS_CORETYPE:-}" ]; then OPENBLAS_CORETYPE=$BENCH_OPENBLAS_CORETYPE
elif grep -qw avx512f /proc/cpuinfo; then OPENBLAS_CORETYPE=SkylakeX
elif grep -qw avx2 /proc/cpuinfo; then OPENBLAS_CORETYPE=Haswell
fi
export OPENBLAS_CORETYPE

echo "== cos bench $(date -u +%FT%TZ)"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, family $(lscpu | sed -n 's/^CPU family: *//p') model $(lscpu | sed -n 's/^Model: *//p'), avx512f=$(grep -qw avx512f /proc/cpuinfo && echo yes || echo no), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

have_openblas=0
if [ -z "${BENCH_SKIP_OPENBLAS:-}" ] && ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so ' && [ -e /usr/include/x86_64-linux-gnu/cblas.h -o -e /usr/include/cblas.h ]; then
  have_openblas=1
fi

# --- FMA peak and sgemm ----------------------------------------------------
# The test binaries are built once; each round then times every shape with
# the native kernels and, right after, with OpenBLAS, so both see the same
# load on a shared machine.
$GO test -c -o "$TMP/blas.test" ./blas/ >>"$TMP/gemm.txt" 2>&1
if [ "$have_openblas" = 1 ]; then
  $GO test -tags openblas -c -o "$TMP/blas_openblas.test" ./blas/ >>"$TMP/gemm.txt" 2>&1 || have_openblas=0
fi
shapes=$(sed -n 's/^\t{"\([a-z0-9_]*\)", \(true\|false\).*/\1/p' blas/bench_test.go)
for r in $(seq "$ROUNDS"); do
  "$TMP/blas.test" -test.run '^$' -test.bench 'FMAPeak/avx|Level1/.*/(avx|ref)' -test.benchtime="$BT" >>"$TMP/gemm.txt" 2>&1
  for s in $shapes; do
    # native, peer, native, peer: a burst of load hits both sides.
    for rep in 1 2; do
      impl='native'
      [ "$rep" = 1 ] && impl='native|gonum'
      "$TMP/blas.test" -test.run '^$' -test.bench "Sgemm/^$s\$/($impl)" -test.benchtime="$BT" >>"$TMP/gemm.txt" 2>&1
      if [ "$have_openblas" = 1 ]; then
        OPENBLAS_NUM_THREADS=$(nproc) "$TMP/blas_openblas.test" -test.run '^$' -test.bench "Sgemm/^$s\$/openblas" \
          -test.benchtime="$BT" >>"$TMP/gemm.txt" 2>&1
      fi
    done
  done
done
grep -E '^(FAIL|panic)|cannot|undefined' "$TMP/gemm.txt" | head -5
echo
python3 bench/benchtable.py <"$TMP/gemm.txt" | awk '!seen[$0]++'
[ "$have_openblas" = 1 ] || echo "(OpenBLAS column missing: apt-get install -y libopenblas-dev)"

# --- training steps ----------------------------------------------------------
echo
# TODO(lead): cos's own LeNet (batch 64) and CIFAR-10 quick (batch 100)
# training-step benchmarks go here once package net/solver exist: a Go
# benchmark in bench/ printing lines of the form
#   cos_lenet threads=2 batch=64 ms_per_iter=X   (and per-layer fwd/bwd ms)
#   cos_cifar10_quick threads=2 batch=100 ms_per_iter=X
# The ratio lines below pick them up from $TMP/steps.txt.
if ls bench/*_test.go >/dev/null 2>&1; then
  $GO test -count=1 -run '^$' -bench . -benchtime=1x ./bench/ 2>&1 | tee -a "$TMP/steps.txt" | grep -v '^\(goos\|goarch\|pkg\|cpu\|PASS\|ok\)'
fi

if [ -z "${BENCH_SKIP_TORCH:-}" ] && /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=$(nproc) /usr/bin/python3 bench/lenet_torch.py 2>&1 | tee -a "$TMP/steps.txt"
  OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=$(nproc) /usr/bin/python3 bench/cifar10_quick_torch.py 2>&1 | tee -a "$TMP/steps.txt"
else
  echo "(PyTorch peer skipped: apt-get install -y python3-torch)"
fi

# Ratios cos / PyTorch where both ran.
python3 - "$TMP/steps.txt" <<'PY'
import re, sys
best = {}
for line in open(sys.argv[1]):
    m = re.match(r"(cos|torch)_(\w+?)(_best)?\s.*ms_per_iter=([\d.]+)", line)
    if m:
        key = (m.group(1), m.group(2))
        best[key] = min(best.get(key, float("inf")), float(m.group(4)))
for net in ("lenet", "cifar10_quick"):
    c, t = best.get(("cos", net)), best.get(("torch", net))
    if c and t:
        print(f"ratio {net}: cos {c:.2f} ms / torch {t:.2f} ms = {c / t:.2f}x")
    elif t:
        print(f"ratio {net}: torch {t:.2f} ms/iter; cos figure not available yet")
PY
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
