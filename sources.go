package cos

import (
	"errors"
	"fmt"

	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/lmdb"
	"github.com/cos-project/cos/prototxt/caffepb"
)

// sourceOpener returns the opener of executor rank of world (distri checks
// that a TRAIN shard holds at least one batch): each LMDB is
// cut into partitions (one per executor unless -lmdb_partitions says more)
// and the executor reads partitions rank, rank+world, … in turn, as
// CaffeOnSpark assigned Spark partitions to executors.
func sourceOpener(cfg *Config, rank, world int) layers.SourceOpener {
	parts := cfg.LMDBPartitions
	if parts < world {
		parts = world
	}
	opts := []lmdb.Option{lmdb.Persistent(cfg.Persistent)}
	return func(lp *caffepb.LayerParameter, phase caffepb.Phase) (layers.Source, error) {
		var srcs []layers.Source
		for p := rank; p < parts; p += world {
			s, err := lmdb.OpenSource(lp, phase, p, parts, opts...)
			if err != nil {
				for _, o := range srcs {
					o.Close()
				}
				return nil, err
			}
			srcs = append(srcs, s)
		}
		var src layers.Source = srcs[0]
		if len(srcs) > 1 {
			src = &chainSource{parts: srcs}
		}
		if cfg.Resize {
			src = withResize(src, lp)
		}
		return src, nil
	}
}

// chainSource reads several shards one after the other as one shard.
type chainSource struct {
	parts []layers.Source
	cur   int
}

func (c *chainSource) Next(s *layers.Sample) error {
	for c.cur < len(c.parts) {
		err := c.parts[c.cur].Next(s)
		if !errors.Is(err, layers.ErrEndOfData) {
			return err
		}
		c.cur++
	}
	return layers.ErrEndOfData
}

func (c *chainSource) Rewind() error {
	for _, p := range c.parts {
		if err := p.Rewind(); err != nil {
			return err
		}
	}
	c.cur = 0
	return nil
}

func (c *chainSource) Len() int {
	n := 0
	for _, p := range c.parts {
		n += p.Len()
	}
	return n
}

func (c *chainSource) Name() string {
	return fmt.Sprintf("%s (+%d more partitions)", c.parts[0].Name(), len(c.parts)-1)
}

func (c *chainSource) Close() error {
	var first error
	for _, p := range c.parts {
		if err := p.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// resizeSource implements -resize: records whose height or width differ
// from the target are resized (bilinear, as OpenCV's INTER_LINEAR, which
// convert_imageset uses) before the data layer sees them. The target is the
// MemoryData layer's declared height × width, or, for a Data layer, the
// size of the shard's first record. Encoded records pass unchanged (they
// are decoded later, by the layer).
type resizeSource struct {
	layers.Source
	h, w int
	buf  []byte
}

func withResize(src layers.Source, lp *caffepb.LayerParameter) layers.Source {
	r := &resizeSource{Source: src}
	if lp.GetType() == "MemoryData" {
		r.h, r.w = int(lp.GetMemoryDataParam().GetHeight()), int(lp.GetMemoryDataParam().GetWidth())
	}
	return r
}

func (r *resizeSource) Next(s *layers.Sample) error {
	if err := r.Source.Next(s); err != nil {
		return err
	}
	if s.Encoded || len(s.FloatData) > 0 {
		return nil
	}
	if r.h == 0 || r.w == 0 {
		r.h, r.w = s.Height, s.Width
	}
	if s.Height == r.h && s.Width == r.w {
		return nil
	}
	n := s.Channels * r.h * r.w
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	r.buf = r.buf[:n]
	lmdb.Resize(s.Data, s.Channels, s.Height, s.Width, r.buf, r.h, r.w)
	// Swap buffers so neither the sample's nor ours is reallocated per record.
	s.Data, r.buf = r.buf, s.Data[:cap(s.Data)]
	s.Height, s.Width = r.h, r.w
	return nil
}
