package blas

// The native level-1/2 kernels: the vector part runs in the kernel set's
// assembly (multiples of its lane count), the tail in Go.

func nativeAxpy(ks *kernelSet, alpha float32, x, y []float32) {
	y = y[:len(x)]
	n := len(x)
	if ks.axpy == nil || n < ks.lanes {
		axpyGo(alpha, x, y)
		return
	}
	nv := n &^ (ks.lanes - 1)
	ks.axpy(nv, alpha, &x[0], &y[0])
	if nv < n {
		axpyGo(alpha, x[nv:], y[nv:])
	}
}

func nativeScal(ks *kernelSet, alpha float32, x []float32) {
	n := len(x)
	if ks.scal == nil || n < ks.lanes {
		scalGo(alpha, x)
		return
	}
	nv := n &^ (ks.lanes - 1)
	ks.scal(nv, alpha, &x[0])
	if nv < n {
		scalGo(alpha, x[nv:])
	}
}

func nativeDot(ks *kernelSet, x, y []float32) float32 {
	y = y[:len(x)]
	n := len(x)
	if ks.dot1 == nil || n < ks.lanes {
		return dotGo(x, y)
	}
	nv := n &^ (ks.lanes - 1)
	s := ks.dot1(nv, &x[0], &y[0])
	if nv < n {
		s += dotGo(x[nv:], y[nv:])
	}
	return s
}

// nativeGemv: y = alpha*A·x + beta*y is one dot per row; y = alpha*Aᵀ·x +
// beta*y is one axpy per row of A, so both walk A contiguously.
func nativeGemv(ks *kernelSet, transA bool, m, n int, alpha float32, a, x []float32, beta float32, y []float32) {
	if !transA {
		y = y[:m]
		x = x[:n]
		for i := range y {
			v := alpha * nativeDot(ks, a[i*n:i*n+n], x)
			if beta != 0 {
				v += beta * y[i]
			}
			y[i] = v
		}
		return
	}
	y = y[:n]
	x = x[:m]
	if beta == 0 {
		clear(y)
	} else if beta != 1 {
		nativeScal(ks, beta, y)
	}
	for i, xv := range x {
		if xv == 0 {
			continue
		}
		nativeAxpy(ks, alpha*xv, a[i*n:i*n+n], y)
	}
}
