package blas

import (
	gblas "gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

func trans(t bool) gblas.Transpose {
	if t {
		return gblas.Trans
	}
	return gblas.NoTrans
}

// Sgemm computes C = alpha*op(A)*op(B) + beta*C where op(A) is m×k, op(B) is
// k×n and C is m×n, all row-major with leading dimensions lda, ldb, ldc.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	blas32.Implementation().Sgemm(trans(transA), trans(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Gemm is Sgemm on contiguous matrices (lda, ldb, ldc implied by the shapes),
// the form Caffe's caffe_cpu_gemm takes.
func Gemm(transA, transB bool, m, n, k int, alpha float32, a, b []float32, beta float32, c []float32) {
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, n)
}

// Gemv computes y = alpha*op(A)*x + beta*y with A m×n row-major contiguous.
func Gemv(transA bool, m, n int, alpha float32, a, x []float32, beta float32, y []float32) {
	if m == 0 || n == 0 {
		return
	}
	blas32.Implementation().Sgemv(trans(transA), m, n, alpha, a, n, x, 1, beta, y, 1)
}

// Axpy computes y += alpha*x over the first n elements.
func Axpy(n int, alpha float32, x, y []float32) {
	x, y = x[:n], y[:n]
	for i, v := range x {
		y[i] += alpha * v
	}
}

// Scal computes x *= alpha over the first n elements.
func Scal(n int, alpha float32, x []float32) {
	x = x[:n]
	for i := range x {
		x[i] *= alpha
	}
}

// Dot returns the sum of x[i]*y[i] over the first n elements.
func Dot(n int, x, y []float32) float32 {
	x, y = x[:n], y[:n]
	var s float32
	for i, v := range x {
		s += v * y[i]
	}
	return s
}
