package layers

import "github.com/cos-project/cos/prototxt/caffepb"

func init() {
	Register("ReLU", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		return &ReLU{lp: p, slope: p.GetReluParam().GetNegativeSlope()}, nil
	})
}

// ReLU is Caffe's rectifier, max(0, x) + negative_slope*min(0, x). It may
// run in place (top and bottom the same blob): Backward then reads the
// output in place of the input, whose sign is the same for any
// non-negative slope, exactly as Caffe does.
type ReLU struct {
	lp    *caffepb.LayerParameter
	slope float32
}

// Type returns "ReLU".
func (l *ReLU) Type() string { return "ReLU" }

// Params returns nil: ReLU has no learnable blobs.
func (l *ReLU) Params() []*Blob { return nil }

// Setup checks the blob counts and shapes the top.
func (l *ReLU) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 1, 1, 1); err != nil {
		return err
	}
	return l.Reshape(bottom, top)
}

// Reshape gives the top the bottom's shape.
func (l *ReLU) Reshape(bottom, top []*Blob) error {
	if top[0] != bottom[0] {
		top[0].ReshapeLike(bottom[0])
	}
	return nil
}

// Forward applies the rectifier element-wise.
func (l *ReLU) Forward(bottom, top []*Blob) error {
	x := bottom[0].Data[:bottom[0].Count()]
	y := top[0].Data[:len(x)]
	s := l.slope
	for i, v := range x {
		if v > 0 {
			y[i] = v
		} else {
			y[i] = s * v
		}
	}
	return nil
}

// Backward passes the gradient where the input (or, in place, the output)
// is positive and scales it by negative_slope elsewhere.
func (l *ReLU) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if len(propagateDown) == 0 || !propagateDown[0] {
		return
	}
	x := bottom[0].Data[:bottom[0].Count()]
	dy := top[0].Diff[:len(x)]
	dx := bottom[0].Diff[:len(x)]
	s := l.slope
	for i, v := range x {
		if v > 0 {
			dx[i] = dy[i]
		} else {
			dx[i] = s * dy[i]
		}
	}
}
