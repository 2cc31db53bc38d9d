// Package bench holds cos's end-to-end speed benchmarks (training-step
// time of LeNet and CIFAR-10 quick, per layer, like `caffe time`) and the
// scripts of `make bench`: run.sh, the PyTorch peers and the table
// formatter. It has no library code; see step_test.go and, for the
// machine's core-to-core latency, coretocore_test.go.
package bench
