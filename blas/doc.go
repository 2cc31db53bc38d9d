// Package blas holds the float32 kernels every layer calls: gemm in all four
// transpose combinations, gemv, axpy, scal, dot, and im2col/col2im.
//
// Matrices are row-major and dense, as in Caffe's caffe_cpu_gemm. The
// package API is deliberately small so that the kernels behind it can be
// swapped (portable Go, amd64 assembly, an optional OpenBLAS build) without
// touching any layer. This is the one place where threads are spent on
// arithmetic.
package blas
