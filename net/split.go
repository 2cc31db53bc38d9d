package net

import (
	"fmt"

	"github.com/cos-project/cos/blas"
	"github.com/cos-project/cos/layers"
)

// splitLayer is Caffe's Split: it hands one blob to several readers, each
// through its own top, and sums the readers' gradients into the bottom. It is
// private so the net never depends on which layers are registered.
type splitLayer struct {
	name string
}

func (l *splitLayer) Type() string           { return "Split" }
func (l *splitLayer) Params() []*layers.Blob { return nil }

func (l *splitLayer) Setup(bottom, top []*layers.Blob) error {
	if len(bottom) != 1 || len(top) < 1 {
		return fmt.Errorf("layer %s (Split): takes 1 bottom and at least 1 top, got %d and %d", l.name, len(bottom), len(top))
	}
	for i, t := range top {
		if t == bottom[0] {
			return fmt.Errorf("layer %s (Split): top %d is its bottom; Split cannot work in place", l.name, i)
		}
	}
	return l.Reshape(bottom, top)
}

func (l *splitLayer) Reshape(bottom, top []*layers.Blob) error {
	for _, t := range top {
		t.ReshapeLike(bottom[0])
	}
	return nil
}

// Forward copies rather than aliasing the bottom's storage (Caffe aliases),
// so a reader that works in place on its copy cannot corrupt the others.
func (l *splitLayer) Forward(bottom, top []*layers.Blob) error {
	src := bottom[0].Data[:bottom[0].Count()]
	for _, t := range top {
		copy(t.Data, src)
	}
	return nil
}

func (l *splitLayer) Backward(top []*layers.Blob, propagateDown []bool, bottom []*layers.Blob) {
	if !propagateDown[0] {
		return
	}
	n := bottom[0].Count()
	dst := bottom[0].Diff[:n]
	copy(dst, top[0].Diff[:n])
	for _, t := range top[1:] {
		blas.Axpy(n, 1, t.Diff[:n], dst)
	}
}
