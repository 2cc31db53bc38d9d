package layers

import (
	"os"

	"github.com/cos-project/cos/prototxt/caffepb"
)

// poolPlane3x3 enables the whole-plane 3x3 stride-2 kernels (CIFAR-10's
// pool1-pool3); benchmarks and tests turn it off to compare with the
// per-row paths. COS_POOL_PLANE3X3=0 turns it off in a whole program
// (cos-bench A/B runs).
var poolPlane3x3 = os.Getenv("COS_POOL_PLANE3X3") != "0"

// plane3x3s2 says whether the layer's planes go through the whole-plane
// 3x3 stride-2 kernels: unpadded windows, planes at most 32 columns wide
// (an input row in two vectors, an output row in one), and every input
// row and column in some window (so the backward kernels write every
// bottom element, with no clearing pass).
func (l *Pooling) plane3x3s2() bool {
	return poolPlane3x3 && poolAVX512 && !poolScalarOnly &&
		(l.method == caffepb.PoolingParameter_MAX || l.method == caffepb.PoolingParameter_AVE) &&
		l.kh == 3 && l.kw == 3 && l.sh == 2 && l.sw == 2 && l.ph == 0 && l.pw == 0 &&
		l.width <= 32 && l.outH > 0 && l.outW > 0 &&
		2*l.outH <= l.height && l.height <= 2*l.outH+1 &&
		2*l.outW <= l.width && l.width <= 2*l.outW+1
}

// aveDivisors fills l.div with the AVE divisors of a plane's windows, as
// floats (the scalar code's float32(rows*cols)).
func (l *Pooling) aveDivisors() {
	n := l.outH * l.outW
	if cap(l.div) < n {
		l.div = make([]float32, n)
	}
	l.div = l.div[:n]
	for y, r := range l.rows {
		for x, c := range l.cols {
			l.div[y*l.outW+x] = float32(r.size * c.size)
		}
	}
}

// plane3x3Masks are the kernels' load masks: input columns 0-15 and
// 16-31 of a row, and the outputs of a row.
func (l *Pooling) plane3x3Masks() (m1, m2, m3 uint64) {
	return uint64(1)<<min(16, l.width) - 1, uint64(1)<<max(0, l.width-16) - 1, uint64(1)<<l.outW - 1
}

// forward3x3s2 pools planes [lo, hi) (lo < hi) in one kernel call.
func (l *Pooling) forward3x3s2(in, out []float32, lo, hi int) {
	planeIn, planeOut := l.height*l.width, l.outH*l.outW
	// Every element the kernels read and write, checked up front.
	_ = in[hi*planeIn-1]
	_ = out[hi*planeOut-1]
	m1, m2, m3 := l.plane3x3Masks()
	i, o := lo*planeIn, lo*planeOut
	if l.method == caffepb.PoolingParameter_MAX {
		_ = l.bmask[hi*planeOut-1]
		maxPool3x3s2PlAVX512(&in[i], l.width, l.height, &out[o], &l.bmask[o], int(noMaxKey),
			m1, m2, m3, hi-lo, l.outH, l.outW, poolPrefetch)
		return
	}
	_ = l.div[planeOut-1]
	avePool3x3s2PlAVX512(&in[i], l.width, l.height, &out[o], &l.div[0],
		m1, m2, m3, hi-lo, l.outH, l.outW, poolPrefetch)
}

// backward3x3s2 writes the bottom gradient of planes [lo, hi) (lo < hi).
func (l *Pooling) backward3x3s2(dOut, dIn []float32, lo, hi int) {
	planeIn, planeOut := l.height*l.width, l.outH*l.outW
	_ = dIn[hi*planeIn-1]
	_ = dOut[hi*planeOut-1]
	m1, m2, m3 := l.plane3x3Masks()
	i, o := lo*planeIn, lo*planeOut
	if l.method == caffepb.PoolingParameter_MAX {
		_ = l.bmask[hi*planeOut-1]
		maxUnpool3x3s2PlAVX512(&dIn[i], l.width, l.height, &dOut[o], &l.bmask[o],
			m1, m2, m3, hi-lo, l.outH, l.outW, poolPrefetch)
		return
	}
	_ = l.div[planeOut-1]
	aveUnpool3x3s2PlAVX512(&dIn[i], l.width, l.height, &dOut[o], &l.div[0],
		m1, m2, m3, hi-lo, l.outH, l.outW, poolPrefetch)
}
