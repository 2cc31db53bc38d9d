package layers

import (
	"fmt"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("MemoryData", newMemoryData)
}

// newMemoryData builds CaffeOnSpark's MemoryData layer. In CaffeOnSpark the
// layer is fed by the Spark side from memory_data_param.source (for
// source_class "com.yahoo.ml.caffe.LMDB", an LMDB); here it reads that
// source itself and is otherwise the Data layer, with batch_size, channels,
// height and width taken from memory_data_param. Every record (after
// decoding, before cropping) must have exactly that shape.
//
// Caffe's own MemoryData, fed through an API rather than a source, has no
// counterpart: without memory_data_param.source the layer is an error.
func newMemoryData(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
	mp := p.GetMemoryDataParam()
	if mp.GetSource() == "" {
		return nil, fmt.Errorf("layer %q (MemoryData): memory_data_param.source is not set; cos reads MemoryData records from a source (CaffeOnSpark's source_class \"com.yahoo.ml.caffe.LMDB\" with source: \"file:...\")", p.GetName())
	}
	c, h, w := int(mp.GetChannels()), int(mp.GetHeight()), int(mp.GetWidth())
	if c <= 0 || h <= 0 || w <= 0 {
		return nil, fmt.Errorf("layer %q (MemoryData): memory_data_param channels, height and width must be positive, got %d×%d×%d", p.GetName(), c, h, w)
	}
	return newDataLayer(p, ctx, "MemoryData", int(mp.GetBatchSize()), []int{c, h, w})
}
