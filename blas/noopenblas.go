//go:build !openblas

package blas

const openblasBuilt = false

func openblasSgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	panic("blas: built without the openblas tag")
}

// OpenBLASCore names the OpenBLAS kernel in use ("" without the openblas tag).
func OpenBLASCore() string { return "" }
