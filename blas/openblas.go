//go:build openblas

package blas

import "github.com/cos-project/cos/blas/internal/openblas"

// openblasBuilt: with the openblas tag Sgemm runs on OpenBLAS's
// cblas_sgemm. This exists only to compare against; the default build
// needs no C BLAS.
const openblasBuilt = true

func openblasSgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	openblas.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// OpenBLASCore names the OpenBLAS kernel in use (openblas_get_corename) and
// its thread count; "" without the openblas tag.
func OpenBLASCore() string { return openblas.Core() }
