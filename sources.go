package cos

import (
	"errors"
	"fmt"

	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/lmdb"
	"github.com/cos-project/cos/prototxt/caffepb"
)

// sourceOpener returns the opener of executor rank of world: each LMDB is
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
		if phase == caffepb.Phase_TRAIN {
			if batch := layerBatchSize(lp); src.Len() < batch {
				src.Close()
				return nil, fmt.Errorf("Insufficient training data: layer %q: executor %d of %d reads %d records of %s, fewer than one batch of %d (use fewer executors or a smaller batch_size)",
					lp.GetName(), rank, world, src.Len(), src.Name(), batch)
			}
		}
		return src, nil
	}
}

func layerBatchSize(lp *caffepb.LayerParameter) int {
	if lp.GetType() == "MemoryData" {
		return int(lp.GetMemoryDataParam().GetBatchSize())
	}
	return int(lp.GetDataParam().GetBatchSize())
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
