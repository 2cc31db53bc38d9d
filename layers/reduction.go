package layers

import (
	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("Reduction", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		rp := p.GetReductionParam()
		switch rp.GetOperation() {
		case caffepb.ReductionParameter_SUM, caffepb.ReductionParameter_ASUM,
			caffepb.ReductionParameter_SUMSQ, caffepb.ReductionParameter_MEAN:
		default:
			return nil, layerErr(p, "unknown reduction_param.operation %v", rp.GetOperation())
		}
		return &Reduction{lp: p, op: rp.GetOperation(), axisParam: int(rp.GetAxis()), coeff: rp.GetCoeff()}, nil
	})
}

// Reduction is Caffe's Reduction layer: every axis from axis on is reduced
// (SUM, ASUM = Σ|x|, SUMSQ = Σx², MEAN) and the result multiplied by
// coeff; the top has the bottom's leading axes (a scalar for axis 0, the
// default).
type Reduction struct {
	lp        *caffepb.LayerParameter
	op        caffepb.ReductionParameter_ReductionOp
	axisParam int
	coeff     float32
	num, dim  int
	scale     float32 // coeff, divided by dim for MEAN
}

// Type returns "Reduction".
func (l *Reduction) Type() string { return "Reduction" }

// Params returns nil: Reduction has no learnable blobs.
func (l *Reduction) Params() []*Blob { return nil }

// Setup checks the blob counts and shapes the top.
func (l *Reduction) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 1, 1, 1); err != nil {
		return err
	}
	return l.Reshape(bottom, top)
}

// Reshape keeps the leading axes.
func (l *Reduction) Reshape(bottom, top []*Blob) error {
	b := bottom[0]
	ax, err := b.CanonicalAxis(l.axisParam)
	if err != nil {
		return layerErr(l.lp, "reduction_param.axis: %v", err)
	}
	l.num = b.CountRange(0, ax)
	l.dim = b.CountFrom(ax)
	top[0].Reshape(b.Shape()[:ax]...)
	l.scale = l.coeff
	if l.op == caffepb.ReductionParameter_MEAN && l.dim > 0 {
		l.scale /= float32(l.dim)
	}
	return nil
}

// Forward reduces every row.
func (l *Reduction) Forward(bottom, top []*Blob) error {
	x, y := bottom[0].Data, top[0].Data
	for i := 0; i < l.num; i++ {
		var s float64
		row := x[i*l.dim : (i+1)*l.dim]
		switch l.op {
		case caffepb.ReductionParameter_ASUM:
			for _, v := range row {
				if v < 0 {
					v = -v
				}
				s += float64(v)
			}
		case caffepb.ReductionParameter_SUMSQ:
			for _, v := range row {
				s += float64(v) * float64(v)
			}
		default: // SUM, MEAN
			for _, v := range row {
				s += float64(v)
			}
		}
		y[i] = float32(s) * l.scale
	}
	return nil
}

// Backward spreads every row's gradient back over the row.
func (l *Reduction) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if !propagates(propagateDown, 0) {
		return
	}
	x, dy, dx := bottom[0].Data, top[0].Diff, bottom[0].Diff
	for i := 0; i < l.num; i++ {
		g := dy[i] * l.scale
		row, out := x[i*l.dim:(i+1)*l.dim], dx[i*l.dim:(i+1)*l.dim]
		switch l.op {
		case caffepb.ReductionParameter_ASUM:
			for j, v := range row {
				switch {
				case v > 0:
					out[j] = g
				case v < 0:
					out[j] = -g
				default:
					out[j] = 0
				}
			}
		case caffepb.ReductionParameter_SUMSQ:
			for j, v := range row {
				out[j] = 2 * g * v
			}
		default:
			for j := range out {
				out[j] = g
			}
		}
	}
}
