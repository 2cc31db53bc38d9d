package layers

import (
	"math"

	"github.com/cos-project/cos/prototxt/caffepb"
)

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

// Forward applies the rectifier element-wise, in Caffe's form
// max(x, 0) + slope*min(x, 0), which compiles without branches (a branch
// on the sign of real activations mispredicts half the time).
func (l *ReLU) Forward(bottom, top []*Blob) error {
	x := bottom[0].Data[:bottom[0].Count()]
	y := top[0].Data[:len(x)]
	s := l.slope
	for i, v := range x {
		y[i] = max(v, 0) + s*min(v, 0)
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
	sBits := math.Float32bits(l.slope)
	for i, v := range x {
		dx[i] = dy[i] * math.Float32frombits(reluGainBits(math.Float32bits(v), sBits))
	}
}

// reluGainBits returns the bits of 1 when the float with bits xb is > 0,
// else sb (the slope's bits), without a branch: x > 0 exactly when its bits
// lie in [1, 0x7f800000] (positive, not zero, not NaN), tested by the sign
// of a 64-bit subtraction.
func reluGainBits(xb, sb uint32) uint32 {
	mask := uint32((int64(uint64(xb-1)) - 0x7f800000) >> 63) // all ones iff x > 0
	return (0x3f800000 & mask) | (sb &^ mask)
}
