package layers

import (
	"fmt"
	"math"

	"github.com/cos-project/cos/prototxt/caffepb"
)

// ToProto returns the blob as Caffe's BlobProto in the current (shape) form,
// the form Caffe itself writes into a .caffemodel. The diff is included only
// when writeDiff is set (Caffe's snapshot_diff).
func (b *Blob) ToProto(writeDiff bool) *caffepb.BlobProto {
	dims := make([]int64, len(b.shape))
	for i, d := range b.shape {
		dims[i] = int64(d)
	}
	p := &caffepb.BlobProto{
		Shape: &caffepb.BlobShape{Dim: dims},
		Data:  append([]float32(nil), b.Data[:b.count]...),
	}
	if writeDiff {
		p.Diff = append([]float32(nil), b.Diff[:b.count]...)
	}
	return p
}

// hasLegacyShape reports whether the proto uses the deprecated
// num/channels/height/width fields, which then take precedence over shape,
// as in Caffe.
func hasLegacyShape(p *caffepb.BlobProto) bool {
	return p.Num != nil || p.Channels != nil || p.Height != nil || p.Width != nil
}

// protoShape returns the shape a proto describes, as Caffe reads it.
func protoShape(p *caffepb.BlobProto) []int {
	if hasLegacyShape(p) {
		return []int{int(p.GetNum()), int(p.GetChannels()), int(p.GetHeight()), int(p.GetWidth())}
	}
	dims := p.GetShape().GetDim()
	s := make([]int, len(dims))
	for i, d := range dims {
		s[i] = int(d)
	}
	return s
}

// protoShapeMatches is Caffe's Blob::ShapeEquals(BlobProto). A legacy 4-D
// proto is compared right-aligned, because Caffe's old parameter blobs were
// padded at the front (an InnerProduct weight N×K was stored 1×1×N×K, a
// bias 1×1×1×N), so such files still load into today's shapes.
func (b *Blob) protoShapeMatches(p *caffepb.BlobProto) bool {
	if hasLegacyShape(p) {
		if len(b.shape) > 4 {
			return false
		}
		legacy := [4]int{int(p.GetNum()), int(p.GetChannels()), int(p.GetHeight()), int(p.GetWidth())}
		for i := 0; i < 4; i++ {
			// i counts from the back: axis len-1-i of the blob, 3-i of legacy.
			d := 1
			if ax := len(b.shape) - 1 - i; ax >= 0 {
				d = b.shape[ax]
			}
			if d != legacy[3-i] {
				return false
			}
		}
		return true
	}
	dims := p.GetShape().GetDim()
	if len(dims) != len(b.shape) {
		return false
	}
	for i, d := range dims {
		if int64(b.shape[i]) != d {
			return false
		}
	}
	return true
}

// FromProto copies a BlobProto into the blob. With reshape the blob takes
// the proto's shape (legacy num/channels/height/width or shape dims);
// without it the shapes must agree (legacy shapes compared as Caffe does)
// or an error names both. double_data / double_diff are accepted in place of
// data / diff and converted to float32.
func (b *Blob) FromProto(p *caffepb.BlobProto, reshape bool) error {
	if p == nil {
		return fmt.Errorf("blob %q: nil BlobProto", b.Name)
	}
	shape := protoShape(p)
	if reshape {
		n := int64(1)
		for _, d := range shape {
			if d < 0 {
				return fmt.Errorf("blob %q: negative dimension in proto shape %v", b.Name, shape)
			}
			n *= int64(d)
			if n > math.MaxInt32 {
				return fmt.Errorf("blob %q: proto shape %v has more than 2^31-1 elements", b.Name, shape)
			}
		}
		b.Reshape(shape...)
	} else if !b.protoShapeMatches(p) {
		return fmt.Errorf("blob %q: trying to copy blobs of different sizes: proto has shape %v, blob has shape %v (reshape not allowed)",
			b.Name, shape, b.shape)
	}
	switch {
	case len(p.DoubleData) > 0:
		if len(p.DoubleData) != b.count {
			return fmt.Errorf("blob %q: proto holds %d double_data values for shape %v (%d expected)", b.Name, len(p.DoubleData), b.shape, b.count)
		}
		for i, v := range p.DoubleData {
			b.Data[i] = float32(v)
		}
	default:
		if len(p.Data) != b.count {
			return fmt.Errorf("blob %q: proto holds %d data values for shape %v (%d expected)", b.Name, len(p.Data), b.shape, b.count)
		}
		copy(b.Data, p.Data)
	}
	switch {
	case len(p.DoubleDiff) > 0:
		if len(p.DoubleDiff) != b.count {
			return fmt.Errorf("blob %q: proto holds %d double_diff values for shape %v (%d expected)", b.Name, len(p.DoubleDiff), b.shape, b.count)
		}
		for i, v := range p.DoubleDiff {
			b.Diff[i] = float32(v)
		}
	case len(p.Diff) > 0:
		if len(p.Diff) != b.count {
			return fmt.Errorf("blob %q: proto holds %d diff values for shape %v (%d expected)", b.Name, len(p.Diff), b.shape, b.count)
		}
		copy(b.Diff, p.Diff)
	}
	return nil
}

// loadLayerBlobs copies the blobs a LayerParameter carries (Caffe copies
// them in the layer's constructor, skipping the fillers) into the freshly
// created params, which must match in number and shape.
func loadLayerBlobs(lp *caffepb.LayerParameter, params []*Blob) error {
	blobs := lp.GetBlobs()
	if len(blobs) == 0 {
		return nil
	}
	if len(blobs) != len(params) {
		return fmt.Errorf("layer %q (%s): LayerParameter holds %d blobs, the layer has %d params", lp.GetName(), lp.GetType(), len(blobs), len(params))
	}
	for i, bp := range blobs {
		if err := params[i].FromProto(bp, false); err != nil {
			return fmt.Errorf("layer %q (%s) param %d: %w", lp.GetName(), lp.GetType(), i, err)
		}
	}
	return nil
}
