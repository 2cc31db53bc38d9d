package layers

import (
	"math/rand"

	"github.com/cos-project/cos/blas"
	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("InnerProduct", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		return &InnerProduct{lp: p, rng: contextRand(ctx), threads: threadsOf(ctx)}, nil
	})
}

// InnerProduct is Caffe's fully connected layer. The bottom is flattened
// from axis on into K inputs (axes before it are M rows); the weights are
// [num_output, K] ([K, num_output] with transpose) and the bias
// [num_output], as in Caffe.
//
// Its gemms are split over the layers' pool (parallelGemm), not blas's
// threads, so the step's one set of workers serves them too.
type InnerProduct struct {
	lp      *caffepb.LayerParameter
	rng     *rand.Rand
	threads int // Context.Threads (0: GOMAXPROCS)
	job     gemmJob

	n, k, m   int
	axis      int
	biasTerm  bool
	transpose bool

	// params are read through this slice at every call, never cached, so
	// a net that swaps in shared blobs is seen.
	params   []*Blob
	ones     []float32 // M ones: the bias gradient is a gemv, as in Caffe
	topShape []int
}

// Type returns "InnerProduct".
func (l *InnerProduct) Type() string { return "InnerProduct" }

// Params returns the weights, then the bias if bias_term.
func (l *InnerProduct) Params() []*Blob { return l.params }

// Setup creates and fills the parameters and shapes the top.
func (l *InnerProduct) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 1, 1, 1); err != nil {
		return err
	}
	ip := l.lp.GetInnerProductParam()
	l.n = int(ip.GetNumOutput())
	if l.n <= 0 {
		return layerErr(l.lp, "num_output must be positive, got %d", l.n)
	}
	axis, err := bottom[0].CanonicalAxis(int(ip.GetAxis()))
	if err != nil {
		return layerErr(l.lp, "%v", err)
	}
	l.axis = axis
	l.k = bottom[0].CountFrom(axis)
	if l.k == 0 {
		return layerErr(l.lp, "bottom %q of shape %v has no inputs from axis %d", bottom[0].Name, bottom[0].Shape(), axis)
	}
	l.biasTerm = ip.GetBiasTerm()
	l.transpose = ip.GetTranspose()
	wShape := []int{l.n, l.k}
	if l.transpose {
		wShape = []int{l.k, l.n}
	}
	weight, err := newParam(l.lp, "weight", ip.GetWeightFiller(), l.rng, wShape...)
	if err != nil {
		return err
	}
	l.params = []*Blob{weight}
	if l.biasTerm {
		bias, err := newParam(l.lp, "bias", ip.GetBiasFiller(), l.rng, l.n)
		if err != nil {
			return err
		}
		l.params = append(l.params, bias)
	}
	if err := loadLayerBlobs(l.lp, l.params); err != nil {
		return err
	}
	return l.Reshape(bottom, top)
}

// Reshape checks the input size against the weights and shapes the top as
// the bottom's leading axes followed by num_output.
func (l *InnerProduct) Reshape(bottom, top []*Blob) error {
	b := bottom[0]
	if l.axis >= b.NumAxes() {
		return layerErr(l.lp, "bottom %q of shape %v has no axis %d", b.Name, b.Shape(), l.axis)
	}
	if k := b.CountFrom(l.axis); k != l.k {
		return layerErr(l.lp, "input size incompatible with inner product parameters: bottom %q of shape %v has %d inputs from axis %d, weights expect %d",
			b.Name, b.Shape(), k, l.axis, l.k)
	}
	l.m = b.CountRange(0, l.axis)
	l.topShape = append(append(l.topShape[:0], b.Shape()[:l.axis]...), l.n)
	top[0].Reshape(l.topShape...)
	if l.biasTerm {
		if cap(l.ones) < l.m {
			l.ones = make([]float32, l.m)
		}
		l.ones = l.ones[:l.m]
		for i := range l.ones {
			l.ones[i] = 1
		}
	}
	return nil
}

// Forward computes top = bottom * W^T + bias (bottom * W with transpose).
func (l *InnerProduct) Forward(bottom, top []*Blob) error {
	x, y := bottom[0].Data, top[0].Data
	ldb := l.k
	if l.transpose {
		ldb = l.n
	}
	parallelGemm(&l.job, effectiveThreads(l.threads), false, !l.transpose, l.m, l.n, l.k, 1, x, l.k, l.params[0].Data, ldb, 0, y, l.n)
	if l.biasTerm {
		bias := l.params[1].Data[:l.n]
		for i := 0; i < l.m; i++ {
			addTo(y[i*l.n:(i+1)*l.n], bias) // vector adds, same sums
		}
	}
	return nil
}

// Backward accumulates dW and db and writes the bottom gradient.
func (l *InnerProduct) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	dy, x := top[0].Diff, bottom[0].Data
	parts := effectiveThreads(l.threads)
	if l.transpose {
		// W is K×N: dW += x^T * dy.
		parallelGemm(&l.job, parts, true, false, l.k, l.n, l.m, 1, x, l.k, dy, l.n, 1, l.params[0].Diff, l.n)
	} else {
		// W is N×K: dW += dy^T * x.
		parallelGemm(&l.job, parts, true, false, l.n, l.k, l.m, 1, dy, l.n, x, l.k, 1, l.params[0].Diff, l.k)
	}
	if l.biasTerm {
		// db += dy^T * ones.
		blas.Gemv(true, l.m, l.n, 1, dy, l.ones, 1, l.params[1].Diff)
	}
	if len(propagateDown) > 0 && propagateDown[0] {
		// dx = dy * W (N×K) or dy * W^T (K×N).
		ldb := l.k
		if l.transpose {
			ldb = l.n
		}
		parallelGemm(&l.job, parts, false, l.transpose, l.m, l.k, l.n, 1, dy, l.n, l.params[0].Data, ldb, 0, bottom[0].Diff, l.k)
	}
}
