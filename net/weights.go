package net

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/prototxt"
	"github.com/cos-project/cos/prototxt/caffepb"
)

// ToProto returns the net as Caffe's NetParameter with every layer's
// parameter (as built: split layers included, bottoms renamed) and, for
// layers with params, their blobs — what a .caffemodel holds. The diffs are
// written only with writeDiff (Caffe's snapshot_diff).
func (n *Net) ToProto(writeDiff bool) *caffepb.NetParameter {
	np := &caffepb.NetParameter{Name: proto.String(n.name)}
	for _, nd := range n.nodes {
		lp := proto.Clone(nd.lp).(*caffepb.LayerParameter)
		for _, p := range nd.params {
			lp.Blobs = append(lp.Blobs, p.ToProto(writeDiff))
		}
		np.Layer = append(np.Layer, lp)
	}
	return np
}

// CopyTrainedLayersFrom copies param values from a trained model (a
// .caffemodel's NetParameter) into the layers of the same name, as Caffe's
// CopyTrainedLayersFrom does; V0/V1 models are upgraded first. Every blob is
// checked before any is copied, so a shape mismatch leaves the net as it was.
//
// missing names the net's layers with params that the model does not
// provide (they keep their filler values); unused names the model's layers
// with blobs that the net has no layer for.
func (n *Net) CopyTrainedLayersFrom(p *caffepb.NetParameter) (missing, unused []string, err error) {
	if p == nil {
		return nil, nil, fmt.Errorf("CopyTrainedLayersFrom: nil model")
	}
	if len(p.GetLayers()) > 0 {
		p = proto.Clone(p).(*caffepb.NetParameter)
		if _, err := prototxt.UpgradeNet(p); err != nil {
			return nil, nil, fmt.Errorf("model %q: %w", p.GetName(), err)
		}
	}
	type copyOp struct {
		dst *layers.Blob
		src *caffepb.BlobProto
	}
	var ops []copyOp
	provided := map[string]bool{}
	for _, sl := range p.GetLayer() {
		name := sl.GetName()
		i, ok := n.nameIndex[name]
		if !ok {
			if len(sl.GetBlobs()) > 0 {
				unused = append(unused, name)
			}
			continue
		}
		nd := n.nodes[i]
		if len(sl.GetBlobs()) == 0 {
			continue
		}
		if provided[name] {
			continue // Caffe copies a repeated source layer again; the first is enough
		}
		if len(sl.GetBlobs()) != len(nd.params) {
			return nil, nil, fmt.Errorf("layer %s: the model has %d blobs, the net's %s layer has %d params", name, len(sl.GetBlobs()), nd.layer.Type(), len(nd.params))
		}
		for k, bp := range sl.GetBlobs() {
			if err := checkProtoShape(name, k, bp, nd.params[k]); err != nil {
				return nil, nil, err
			}
			ops = append(ops, copyOp{nd.params[k], bp})
		}
		provided[name] = true
	}
	for _, op := range ops {
		if err := op.dst.FromProto(op.src, false); err != nil {
			return nil, nil, err
		}
	}
	for _, nd := range n.nodes {
		if len(nd.params) > 0 && !provided[nd.name] {
			missing = append(missing, nd.name)
		}
	}
	return missing, unused, nil
}

// ShareWeightsFrom makes this net's params use the value storage of the
// params of other's layers with the same names (Caffe's
// ShareTrainedLayersWith): a TEST net then always sees the TRAIN net's
// current weights. Gradients stay separate. Layers of other with no
// counterpart here are ignored. Everything is checked before anything is
// shared.
func (n *Net) ShareWeightsFrom(other *Net) error {
	if other == nil {
		return fmt.Errorf("ShareWeightsFrom: nil net")
	}
	type pair struct{ dst, src *layers.Blob }
	var pairs []pair
	done := map[string]bool{}
	for _, src := range other.nodes {
		i, ok := n.nameIndex[src.name]
		if !ok || done[src.name] {
			continue
		}
		done[src.name] = true
		dst := n.nodes[i]
		if len(dst.params) != len(src.params) {
			return fmt.Errorf("layer %s: %d params in the source net, %d in this net", src.name, len(src.params), len(dst.params))
		}
		for k, sp := range src.params {
			if !dst.params[k].ShapeEquals(sp.Shape()) {
				return fmt.Errorf("layer %s: cannot share param %d: shape %s in the source net, %s in this net", src.name, k, sp.ShapeString(), dst.params[k].ShapeString())
			}
			pairs = append(pairs, pair{dst.params[k], sp})
		}
	}
	for _, pr := range pairs {
		pr.dst.ShareData(pr.src)
	}
	// Params shared by name inside this net follow their owner, even when
	// other has no layer for the user.
	for _, s := range n.shares {
		s.user.ShareData(s.owner)
	}
	return nil
}

// SharesParams reports whether layers of this net share params by name
// (their blobs then alias the owners' Data and Diff storage).
func (n *Net) SharesParams() bool { return len(n.shares) > 0 }

// checkProtoShape reports, naming the layer, when a model blob cannot be
// copied into a param: Caffe's Blob::ShapeEquals(BlobProto), where a legacy
// num/channels/height/width proto is compared right-aligned (old models
// stored a bias of N as 1×1×1×N).
func checkProtoShape(layer string, k int, bp *caffepb.BlobProto, b *layers.Blob) error {
	if protoShapeMatches(bp, b.Shape()) {
		return nil
	}
	return fmt.Errorf("layer %s: blob %d shape %s in the model, %s in the net (to learn this layer from scratch instead, rename it)",
		layer, k, protoShapeString(bp), b.ShapeString())
}

func legacyProto(bp *caffepb.BlobProto) bool {
	return bp.Num != nil || bp.Channels != nil || bp.Height != nil || bp.Width != nil
}

func protoDims(bp *caffepb.BlobProto) []int64 {
	if legacyProto(bp) {
		return []int64{int64(bp.GetNum()), int64(bp.GetChannels()), int64(bp.GetHeight()), int64(bp.GetWidth())}
	}
	return bp.GetShape().GetDim()
}

func protoShapeMatches(bp *caffepb.BlobProto, shape []int) bool {
	if legacyProto(bp) {
		if len(shape) > 4 {
			return false
		}
		legacy := protoDims(bp)
		for i := 0; i < 4; i++ {
			d := 1
			if ax := len(shape) - 4 + i; ax >= 0 {
				d = shape[ax]
			}
			if int64(d) != legacy[i] {
				return false
			}
		}
		return true
	}
	dims := bp.GetShape().GetDim()
	if len(dims) != len(shape) {
		return false
	}
	for i, d := range dims {
		if int64(shape[i]) != d {
			return false
		}
	}
	return true
}

// protoShapeString formats a proto's shape as Blob.ShapeString does.
func protoShapeString(bp *caffepb.BlobProto) string {
	var sb strings.Builder
	count := int64(1)
	for _, d := range protoDims(bp) {
		fmt.Fprintf(&sb, "%d ", d)
		count *= d
	}
	fmt.Fprintf(&sb, "(%d)", count)
	return sb.String()
}
