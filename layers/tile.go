package layers

import (
	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("Tile", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		tp := p.GetTileParam()
		if tp.GetTiles() < 1 {
			return nil, layerErr(p, "tile_param.tiles must be positive, got %d", tp.GetTiles())
		}
		return &Tile{lp: p, axisParam: int(tp.GetAxis()), tiles: int(tp.GetTiles())}, nil
	})
}

// Tile is Caffe's Tile layer: the bottom repeated tiles times along axis
// (the whole block from axis on is repeated, so a 2×3 bottom tiled 2 times
// on axis 1 gives rows x0 x0 ... per sample). The gradient sums the copies.
type Tile struct {
	lp               *caffepb.LayerParameter
	axisParam, tiles int
	outer, inner     int
	shape            []int // top shape, reused
}

// Type returns "Tile".
func (l *Tile) Type() string { return "Tile" }

// Params returns nil: Tile has no learnable blobs.
func (l *Tile) Params() []*Blob { return nil }

// Setup checks the blob counts and shapes the top.
func (l *Tile) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 1, 1, 1); err != nil {
		return err
	}
	return l.Reshape(bottom, top)
}

// Reshape multiplies the axis by tiles.
func (l *Tile) Reshape(bottom, top []*Blob) error {
	b := bottom[0]
	ax, err := b.CanonicalAxis(l.axisParam)
	if err != nil {
		return layerErr(l.lp, "tile_param.axis: %v", err)
	}
	l.shape = resizeInts(l.shape, b.NumAxes())
	copy(l.shape, b.Shape())
	l.shape[ax] *= l.tiles
	l.outer = b.CountRange(0, ax)
	l.inner = b.CountFrom(ax)
	top[0].Reshape(l.shape...)
	return nil
}

// Forward writes tiles copies of every block.
func (l *Tile) Forward(bottom, top []*Blob) error {
	x, y := bottom[0].Data, top[0].Data
	o := 0
	for i := 0; i < l.outer; i++ {
		src := x[i*l.inner : (i+1)*l.inner]
		for t := 0; t < l.tiles; t++ {
			copy(y[o:o+l.inner], src)
			o += l.inner
		}
	}
	return nil
}

// Backward sums the gradients of the copies.
func (l *Tile) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if !propagates(propagateDown, 0) {
		return
	}
	dy, dx := top[0].Diff, bottom[0].Diff
	o := 0
	for i := 0; i < l.outer; i++ {
		dst := dx[i*l.inner : (i+1)*l.inner]
		copy(dst, dy[o:o+l.inner])
		o += l.inner
		for t := 1; t < l.tiles; t++ {
			for j, d := range dy[o : o+l.inner] {
				dst[j] += d
			}
			o += l.inner
		}
	}
}
