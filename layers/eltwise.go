package layers

import (
	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("Eltwise", newEltwise)
}

// Eltwise is Caffe's Eltwise layer over two or more bottoms of one shape:
// PROD, SUM (each bottom times its coeff, default 1) or MAX.
//
// MAX breaks ties as Caffe does: between bottom 0 and bottom 1 the later
// one wins, after that the earlier winner stays; the gradient goes only to
// the winner. PROD's gradient is the product of the other bottoms,
// computed directly when stable_prod_grad (the default) and as y/x
// otherwise, as Caffe.
//
// In place (top = bottom[0]) is allowed for SUM only; PROD and MAX need
// the bottoms in Backward.
type Eltwise struct {
	lp     *caffepb.LayerParameter
	op     caffepb.EltwiseParameter_EltwiseOp
	coeff  []float32
	stable bool
	argmax []int32 // MAX: the winning bottom per element
}

func newEltwise(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
	ep := p.GetEltwiseParam()
	l := &Eltwise{lp: p, op: ep.GetOperation(), stable: ep.GetStableProdGrad()}
	switch l.op {
	case caffepb.EltwiseParameter_PROD, caffepb.EltwiseParameter_SUM, caffepb.EltwiseParameter_MAX:
	default:
		return nil, layerErr(p, "unknown elementwise operation %v", l.op)
	}
	if len(ep.GetCoeff()) > 0 && l.op != caffepb.EltwiseParameter_SUM {
		return nil, layerErr(p, "Eltwise layer only takes coefficients for summation (operation is %v)", l.op)
	}
	return l, nil
}

// Type returns "Eltwise".
func (l *Eltwise) Type() string { return "Eltwise" }

// Params returns nil: Eltwise has no learnable blobs.
func (l *Eltwise) Params() []*Blob { return nil }

// Setup checks the blob counts and coefficients and shapes the top.
func (l *Eltwise) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 2, -1, 1, 1); err != nil {
		return err
	}
	c := l.lp.GetEltwiseParam().GetCoeff()
	if len(c) > 0 && len(c) != len(bottom) {
		return layerErr(l.lp, "Eltwise layer takes one coefficient per bottom blob: %d coefficients for %d bottoms", len(c), len(bottom))
	}
	l.coeff = make([]float32, len(bottom))
	for i := range l.coeff {
		l.coeff[i] = 1
		if len(c) > 0 {
			l.coeff[i] = c[i]
		}
	}
	for i := 1; i < len(bottom); i++ {
		if top[0] == bottom[i] {
			return layerErr(l.lp, "in-place computation is only allowed with bottom[0]")
		}
	}
	if top[0] == bottom[0] && l.op != caffepb.EltwiseParameter_SUM {
		return layerErr(l.lp, "in-place computation is only allowed for SUM, not %v", l.op)
	}
	return l.Reshape(bottom, top)
}

// Reshape checks that all bottoms have one shape and shapes the top.
func (l *Eltwise) Reshape(bottom, top []*Blob) error {
	for i := 1; i < len(bottom); i++ {
		if !bottom[i].ShapeEquals(bottom[0].Shape()) {
			return layerErr(l.lp, "bottom[0] %q has shape %v but bottom[%d] %q has shape %v; all bottoms must have the same shape",
				bottom[0].Name, bottom[0].Shape(), i, bottom[i].Name, bottom[i].Shape())
		}
	}
	neuronReshape(bottom[:1], top)
	if l.op == caffepb.EltwiseParameter_MAX {
		n := bottom[0].Count()
		if cap(l.argmax) < n {
			l.argmax = make([]int32, n)
		}
		l.argmax = l.argmax[:n]
	}
	return nil
}

// Forward computes the product, weighted sum or maximum.
func (l *Eltwise) Forward(bottom, top []*Blob) error {
	n := bottom[0].Count()
	y := top[0].Data[:n]
	switch l.op {
	case caffepb.EltwiseParameter_PROD:
		a, b := bottom[0].Data, bottom[1].Data
		for i := range y {
			y[i] = a[i] * b[i]
		}
		for _, bt := range bottom[2:] {
			for i, v := range bt.Data[:n] {
				y[i] *= v
			}
		}
	case caffepb.EltwiseParameter_SUM:
		// bottom[0] first: in place y is bottom[0].
		c0 := l.coeff[0]
		for i, v := range bottom[0].Data[:n] {
			y[i] = c0 * v
		}
		for j, bt := range bottom[1:] {
			c := l.coeff[j+1]
			for i, v := range bt.Data[:n] {
				y[i] += c * v
			}
		}
	case caffepb.EltwiseParameter_MAX:
		a, b := bottom[0].Data, bottom[1].Data
		for i := range y {
			if a[i] > b[i] {
				y[i], l.argmax[i] = a[i], 0
			} else {
				y[i], l.argmax[i] = b[i], 1
			}
		}
		for j := 2; j < len(bottom); j++ {
			for i, v := range bottom[j].Data[:n] {
				if v > y[i] {
					y[i], l.argmax[i] = v, int32(j)
				}
			}
		}
	}
	return nil
}

// Backward writes each asked-for bottom's gradient.
func (l *Eltwise) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	n := bottom[0].Count()
	dy, y := top[0].Diff[:n], top[0].Data[:n]
	// Last bottom first, so that in place (SUM, top = bottom[0]) dy is
	// still intact while the other bottoms read it.
	for j := len(bottom) - 1; j >= 0; j-- {
		if !propagates(propagateDown, j) {
			continue
		}
		x, dx := bottom[j].Data[:n], bottom[j].Diff[:n]
		switch l.op {
		case caffepb.EltwiseParameter_PROD:
			if !l.stable {
				for i := range dx {
					dx[i] = dy[i] * y[i] / x[i]
				}
				continue
			}
			first := true
			for k, bk := range bottom {
				if k == j {
					continue
				}
				if first {
					copy(dx, bk.Data[:n])
					first = false
				} else {
					for i, v := range bk.Data[:n] {
						dx[i] *= v
					}
				}
			}
			for i := range dx {
				dx[i] *= dy[i]
			}
		case caffepb.EltwiseParameter_SUM:
			c := l.coeff[j]
			if c == 1 {
				if top[0] != bottom[j] {
					copy(dx, dy)
				}
			} else {
				for i := range dx {
					dx[i] = c * dy[i]
				}
			}
		case caffepb.EltwiseParameter_MAX:
			jj := int32(j)
			for i := range dx {
				if l.argmax[i] == jj {
					dx[i] = dy[i]
				} else {
					dx[i] = 0
				}
			}
		}
	}
}
