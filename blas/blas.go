package blas

import (
	"fmt"
	"os"
	"strings"
)

// backend names what Sgemm and friends run on: "native" (the kernels of
// the selected kernelSet), "ref" (gonum and plain loops) or "openblas"
// (the openblas build tag; Sgemm only).
var backend = "native"

// kernelSets lists the dispatch paths this CPU can run, fastest first; the
// portable Go set is always last.
var kernelSets = append(archKernels(), goKernels())

// active is the kernel set the native backend uses.
var active = kernelSets[0]

func init() {
	if forceRef {
		backend = "ref"
	}
	if openblasBuilt {
		backend = "openblas"
	}
	// Read once: switching mid-run would make results depend on timing.
	switch v := strings.ToLower(strings.TrimSpace(os.Getenv("COS_BLAS"))); v {
	case "":
	case "ref", "gonum":
		backend = "ref"
	case "native":
		backend = "native"
	case "openblas":
		if openblasBuilt {
			backend = "openblas"
		}
	default:
		if ks := findKernelSet(v); ks != nil {
			active, backend = ks, "native"
		}
	}
}

// findKernelSet finds an available kernel set by name ("avx512", "avx2", "go").
func findKernelSet(name string) *kernelSet {
	for _, ks := range kernelSets {
		if ks.name == name {
			return ks
		}
	}
	return nil
}

// Impl names the implementation behind Sgemm, e.g. "native/avx512",
// "ref/gonum" or "openblas", for logs and benchmark output.
func Impl() string {
	switch backend {
	case "ref":
		return "ref/gonum"
	case "openblas":
		return "openblas"
	}
	return "native/" + active.name
}

// Tile is the native kernels' register tile (rows × columns of C per
// micro-kernel call), for callers that split a gemm into slabs: slabs in
// whole tiles leave no short edge tiles inside the product.
func Tile() (rows, cols int) { return active.mr, active.nr }

// Sgemm computes C = alpha*op(A)*op(B) + beta*C where op(A) is m×k, op(B) is
// k×n and C is m×n, all row-major with leading dimensions lda, ldb, ldc.
// beta == 0 overwrites C without reading it (so NaN garbage does not leak).
// Large products are split across the package's worker threads.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	switch backend {
	case "ref":
		refSgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	case "openblas":
		openblasSgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	default:
		nativeSgemm(active, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
}

// checkGemm panics, naming the operand, when a shape, leading dimension or
// slice length is inconsistent: the assembly kernels read through raw
// pointers, so a short slice must be caught here rather than read past.
func checkGemm(tA, tB bool, m, n, k, la, lda, lb, ldb, lc, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("blas: Sgemm with negative size m=%d n=%d k=%d", m, n, k))
	}
	check := func(name string, rows, cols, l, ld int) {
		if ld < max(1, cols) {
			panic(fmt.Sprintf("blas: Sgemm %s: leading dimension %d < %d columns", name, ld, cols))
		}
		if rows > 0 && cols > 0 && l < (rows-1)*ld+cols {
			panic(fmt.Sprintf("blas: Sgemm %s: %d floats, %d×%d with stride %d needs %d", name, l, rows, cols, ld, (rows-1)*ld+cols))
		}
	}
	if m == 0 || n == 0 {
		return
	}
	if tA {
		check("A", k, m, la, lda)
	} else {
		check("A", m, k, la, lda)
	}
	if tB {
		check("B", n, k, lb, ldb)
	} else {
		check("B", k, n, lb, ldb)
	}
	check("C", m, n, lc, ldc)
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
// beta == 0 overwrites y.
func Gemv(transA bool, m, n int, alpha float32, a, x []float32, beta float32, y []float32) {
	if m == 0 || n == 0 {
		return
	}
	xl, yl := n, m
	if transA {
		xl, yl = m, n
	}
	if len(a) < m*n || len(x) < xl || len(y) < yl {
		panic(fmt.Sprintf("blas: Gemv %d×%d (trans=%v): len(a)=%d len(x)=%d len(y)=%d too short", m, n, transA, len(a), len(x), len(y)))
	}
	if backend == "ref" {
		refGemv(transA, m, n, alpha, a, x, beta, y)
		return
	}
	nativeGemv(active, transA, m, n, alpha, a, x, beta, y)
}

// Axpy computes y += alpha*x over the first n elements.
func Axpy(n int, alpha float32, x, y []float32) {
	if backend == "ref" {
		refAxpy(n, alpha, x, y)
		return
	}
	nativeAxpy(active, alpha, x[:n], y[:n])
}

// Scal computes x *= alpha over the first n elements.
func Scal(n int, alpha float32, x []float32) {
	if backend == "ref" {
		refScal(n, alpha, x)
		return
	}
	nativeScal(active, alpha, x[:n])
}

// Dot returns the sum of x[i]*y[i] over the first n elements.
func Dot(n int, x, y []float32) float32 {
	if backend == "ref" {
		return refDot(n, x, y)
	}
	return nativeDot(active, x[:n], y[:n])
}
