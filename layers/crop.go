package layers

import (
	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("Crop", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		cp := p.GetCropParam()
		return &Crop{lp: p, axisParam: int(cp.GetAxis()), offsets: cp.GetOffset()}, nil
	})
}

// Crop is Caffe's Crop layer: bottom[0] cropped to the shape of bottom[1]
// on every axis from crop_param.axis (default 2) on, starting at offset
// (none: 0; one value: every cropped axis; else one per cropped axis).
// bottom[1] only lends its shape. The gradient goes to bottom[0], zero
// outside the crop.
type Crop struct {
	lp        *caffepb.LayerParameter
	axisParam int
	offsets   []uint32
	off       []int // per axis of bottom[0]
	shape     []int // top shape
	stride    []int // bottom[0] strides
	pos       []int // odometer over the top's rows
}

// Type returns "Crop".
func (l *Crop) Type() string { return "Crop" }

// Params returns nil: Crop has no learnable blobs.
func (l *Crop) Params() []*Blob { return nil }

// AllowForceBackward is false for the reference bottom, which gets no gradient.
func (l *Crop) AllowForceBackward(i int) bool { return i == 0 }

// Setup checks the blob counts and shapes the top.
func (l *Crop) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 2, 2, 1, 1); err != nil {
		return err
	}
	return l.Reshape(bottom, top)
}

// Reshape checks the offsets against both bottoms and shapes the top.
func (l *Crop) Reshape(bottom, top []*Blob) error {
	a, ref := bottom[0], bottom[1]
	if a.NumAxes() != ref.NumAxes() {
		return layerErr(l.lp, "bottoms must have the same number of axes: %q %v, %q %v", a.Name, a.Shape(), ref.Name, ref.Shape())
	}
	ax, err := a.CanonicalAxis(l.axisParam)
	if err != nil {
		return layerErr(l.lp, "crop_param.axis: %v", err)
	}
	n := a.NumAxes()
	if n == 0 {
		return layerErr(l.lp, "bottom %q has no axes to crop", a.Name)
	}
	if len(l.offsets) > 1 && len(l.offsets) != n-ax {
		return layerErr(l.lp, "crop_param.offset: %d values given for %d cropped axes (give none, one, or one per axis)", len(l.offsets), n-ax)
	}
	l.off = resizeInts(l.off, n)
	l.shape = resizeInts(l.shape, n)
	l.stride = resizeInts(l.stride, n)
	l.pos = resizeInts(l.pos, n)
	for i := 0; i < n; i++ {
		l.off[i], l.shape[i] = 0, a.Shape()[i]
		if i < ax {
			continue
		}
		o := 0
		switch len(l.offsets) {
		case 0:
		case 1:
			o = int(l.offsets[0])
		default:
			o = int(l.offsets[i-ax])
		}
		if a.Shape()[i]-o < ref.Shape()[i] {
			return layerErr(l.lp, "crop of axis %d does not fit: %d values from offset %d needed, bottom %q has %d", i, ref.Shape()[i], o, a.Name, a.Shape()[i])
		}
		l.off[i], l.shape[i] = o, ref.Shape()[i]
	}
	s := 1
	for i := n - 1; i >= 0; i-- {
		l.stride[i] = s
		s *= a.Shape()[i]
	}
	top[0].Reshape(l.shape...)
	return nil
}

func resizeInts(b []int, n int) []int {
	if cap(b) < n {
		return make([]int, n)
	}
	return b[:n]
}

// copyRows walks every innermost row of the top, copying it from the
// matching row of bottom[0] (scatter false: x → y) or back (scatter true:
// y → x). A plain loop rather than a callback keeps Forward allocation-free.
func (l *Crop) copyRows(bot, tp []float32, scatter bool) {
	n := len(l.shape)
	for i := range l.pos {
		l.pos[i] = 0
	}
	w := l.shape[n-1]
	for t := 0; ; t += w {
		b := l.off[n-1]
		for i := 0; i < n-1; i++ {
			b += (l.pos[i] + l.off[i]) * l.stride[i]
		}
		if scatter {
			copy(bot[b:b+w], tp[t:t+w])
		} else {
			copy(tp[t:t+w], bot[b:b+w])
		}
		i := n - 2
		for ; i >= 0; i-- {
			l.pos[i]++
			if l.pos[i] < l.shape[i] {
				break
			}
			l.pos[i] = 0
		}
		if i < 0 {
			return
		}
	}
}

// Forward copies the cropped window.
func (l *Crop) Forward(bottom, top []*Blob) error {
	if top[0].Count() == 0 {
		return nil
	}
	l.copyRows(bottom[0].Data, top[0].Data, false)
	return nil
}

// Backward scatters the gradient into the window, zero elsewhere; the
// reference bottom, if asked, gets zeros.
func (l *Crop) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if propagates(propagateDown, 1) {
		clear(bottom[1].Diff[:bottom[1].Count()])
	}
	if !propagates(propagateDown, 0) {
		return
	}
	clear(bottom[0].Diff[:bottom[0].Count()])
	if top[0].Count() == 0 {
		return
	}
	l.copyRows(bottom[0].Diff, top[0].Diff, true)
}
