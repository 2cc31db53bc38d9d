package blas

import (
	gblas "gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// The reference kernels: gonum for gemm/gemv, plain loops for level 1.
// They are the yardstick of the tests and what COS_BLAS=ref or the cosref
// build tag select.

func trans(t bool) gblas.Transpose {
	if t {
		return gblas.Trans
	}
	return gblas.NoTrans
}

func refSgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	blas32.Implementation().Sgemm(trans(transA), trans(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func refGemv(transA bool, m, n int, alpha float32, a, x []float32, beta float32, y []float32) {
	if m == 0 || n == 0 {
		return
	}
	blas32.Implementation().Sgemv(trans(transA), m, n, alpha, a, n, x, 1, beta, y, 1)
}

func refAxpy(n int, alpha float32, x, y []float32) {
	x, y = x[:n], y[:n]
	for i, v := range x {
		y[i] += alpha * v
	}
}

func refScal(n int, alpha float32, x []float32) {
	x = x[:n]
	for i := range x {
		x[i] *= alpha
	}
}

func refDot(n int, x, y []float32) float32 {
	x, y = x[:n], y[:n]
	var s float32
	for i, v := range x {
		s += v * y[i]
	}
	return s
}
