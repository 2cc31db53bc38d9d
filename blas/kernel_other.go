//go:build !amd64 || purego

package blas

// archKernels: no assembly outside amd64; the portable Go kernels serve.
func archKernels() []*kernelSet { return nil }
