package net

import (
	"fmt"
	"math"
	"time"
)

// Forward runs every layer in order and returns the loss: the sum over
// weighted tops of loss_weight × sum(top data).
func (n *Net) Forward() (float32, error) {
	var loss float32
	for i := range n.nodes {
		l, err := n.ForwardLayer(i)
		if err != nil {
			return 0, err
		}
		loss += l
	}
	return loss, nil
}

// ForwardLayer runs layer i alone (re-shaping it first if a bottom changed
// shape) and returns its contribution to the loss. With Forward it lets a
// benchmark time layers one by one.
func (n *Net) ForwardLayer(i int) (float32, error) {
	nd := n.nodes[i]
	var t0 time.Time
	if n.timing {
		t0 = time.Now()
	}
	if nd.shapesChanged() {
		if err := nd.layer.Reshape(nd.bottom, nd.top); err != nil {
			return 0, nd.wrap(err)
		}
		nd.recordShapes()
	}
	if err := nd.layer.Forward(nd.bottom, nd.top); err != nil {
		return 0, nd.wrap(err)
	}
	var loss float32
	for _, lt := range nd.losses {
		var s float32
		for _, v := range lt.blob.Data[:lt.blob.Count()] {
			s += v
		}
		loss += lt.weight * s
	}
	if n.timing {
		nd.fwdTime += time.Since(t0)
		nd.fwdCalls++
	}
	if n.debug {
		n.forwardDebug(nd)
	}
	return loss, nil
}

// Backward runs the layers that need it, last to first, calling the params
// ready hook as gradients become final. Param gradients accumulate: clear
// them (ClearParamDiffs) before the first Backward of an iteration.
func (n *Net) Backward() {
	for i := len(n.nodes) - 1; i >= 0; i-- {
		n.BackwardLayer(i)
		if n.hook != nil && len(n.nodes[i].ready) > 0 {
			n.hook(n.nodes[i].ready)
		}
	}
}

// BackwardLayer runs layer i's Backward if it needs one, after setting the
// gradient of its weighted tops to their loss weight. It does not call the
// params ready hook.
func (n *Net) BackwardLayer(i int) {
	nd := n.nodes[i]
	if !nd.needsBackward {
		return
	}
	var t0 time.Time
	if n.timing {
		t0 = time.Now()
	}
	for _, lt := range nd.losses {
		d := lt.blob.Diff[:lt.blob.Count()]
		for j := range d {
			d[j] = lt.weight
		}
	}
	nd.layer.Backward(nd.top, nd.bottomNeedsBackward, nd.bottom)
	if n.timing {
		nd.bwdTime += time.Since(t0)
		nd.bwdCalls++
	}
	if n.debug {
		n.backwardDebug(nd)
	}
}

// ForwardBackward runs Forward then Backward and returns the loss.
func (n *Net) ForwardBackward() (float32, error) {
	loss, err := n.Forward()
	if err != nil {
		return 0, err
	}
	n.Backward()
	return loss, nil
}

// Reshape re-shapes every layer in order, for when the caller changed the
// shape of an input blob (Caffe's Net::Reshape). Forward also does this by
// itself for layers whose bottoms changed shape.
func (n *Net) Reshape() error {
	for _, nd := range n.nodes {
		if err := nd.layer.Reshape(nd.bottom, nd.top); err != nil {
			return nd.wrap(err)
		}
		nd.recordShapes()
	}
	return nil
}

// LayerTiming is the accumulated time one layer spent in Forward and
// Backward since timing was enabled or reset.
type LayerTiming struct {
	Name, Type                  string
	Forward, Backward           time.Duration
	ForwardCalls, BackwardCalls int
}

// EnableTimings turns per-layer timing on or off (off by default; timing
// costs two clock reads per layer call).
func (n *Net) EnableTimings(on bool) { n.timing = on }

// ResetTimings zeroes the accumulated per-layer times.
func (n *Net) ResetTimings() {
	for _, nd := range n.nodes {
		nd.fwdTime, nd.bwdTime, nd.fwdCalls, nd.bwdCalls = 0, 0, 0, 0
	}
}

// Timings returns the accumulated per-layer times, in layer order.
func (n *Net) Timings() []LayerTiming {
	out := make([]LayerTiming, len(n.nodes))
	for i, nd := range n.nodes {
		out[i] = LayerTiming{nd.name, nd.layer.Type(), nd.fwdTime, nd.bwdTime, nd.fwdCalls, nd.bwdCalls}
	}
	return out
}

func (nd *node) shapesChanged() bool {
	for j, b := range nd.bottom {
		s := b.Shape()
		last := nd.lastShapes[j]
		if len(s) != len(last) {
			return true
		}
		for k := range s {
			if s[k] != last[k] {
				return true
			}
		}
	}
	return false
}

func (nd *node) recordShapes() {
	for j, b := range nd.bottom {
		nd.lastShapes[j] = append(nd.lastShapes[j][:0], b.Shape()...)
	}
}

// wrap makes sure an error names the layer at fault; layer errors usually
// do already.
func (nd *node) wrap(err error) error {
	if namesLayer(err, nd.name) {
		return err
	}
	return fmt.Errorf("layer %s (%s): %w", nd.name, nd.layer.Type(), err)
}

// absMean is the mean absolute value Caffe's debug_info prints.
func absMean(x []float32) float64 {
	if len(x) == 0 {
		return 0
	}
	var s float64
	for _, v := range x {
		s += math.Abs(float64(v))
	}
	return s / float64(len(x))
}

// forwardDebug and backwardDebug print Caffe's debug_info lines (net
// param debug_info: true, with a Logf).
func (n *Net) forwardDebug(nd *node) {
	for _, t := range nd.top {
		n.logf("    [Forward] Layer %s, top blob %s data: %g", nd.name, t.Name, absMean(t.Data[:t.Count()]))
	}
	for k, p := range nd.params {
		n.logf("    [Forward] Layer %s, param blob %d data: %g", nd.name, k, absMean(p.Data[:p.Count()]))
	}
}

func (n *Net) backwardDebug(nd *node) {
	for j, b := range nd.bottom {
		if nd.bottomNeedsBackward[j] {
			n.logf("    [Backward] Layer %s, bottom blob %s diff: %g", nd.name, b.Name, absMean(b.Diff[:b.Count()]))
		}
	}
	for k, p := range nd.params {
		n.logf("    [Backward] Layer %s, param blob %d diff: %g", nd.name, k, absMean(p.Diff[:p.Count()]))
	}
}
