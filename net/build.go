package net

import (
	"fmt"
	"math/rand"
	"slices"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/prototxt"
	"github.com/cos-project/cos/prototxt/caffepb"
)

// New builds the net of param for ctx.Phase (param.state supplies level and
// stages). ctx may be nil (phase then from param.state, default TEST); when
// ctx.Rand is nil the net gets a time-seeded one. param is not modified.
func New(param *caffepb.NetParameter, ctx *layers.Context) (*Net, error) {
	return NewWithOptions(param, ctx, Options{})
}

// srcRef names a top: layer index and top index in the filtered net.
type srcRef struct{ layer, top int }

// proto1 is a layer of the filtered net after the first (naming) pass.
type proto1 struct {
	lp          *caffepb.LayerParameter
	layer       layers.Layer
	label       string
	srcs        []srcRef  // per bottom, the top it reads
	lossWeights []float32 // per top
}

// splitInfo is the Split layer inserted after a top read more than once.
type splitInfo struct {
	tops []*layers.Blob
	next int // next split top to hand to a reader
}

// NewWithOptions is New with build options (logging).
func NewWithOptions(param *caffepb.NetParameter, ctx *layers.Context, opts Options) (*Net, error) {
	if param == nil {
		return nil, fmt.Errorf("net: nil NetParameter")
	}
	c := layers.Context{}
	if ctx != nil {
		c = *ctx
	} else {
		c.Phase = param.GetState().GetPhase()
	}
	if c.Rand == nil {
		c.Rand = rand.New(rand.NewSource(time.Now().UnixNano()))
	}
	n := &Net{
		name:      param.GetName(),
		phase:     c.Phase,
		ctx:       &c,
		logf:      opts.Logf,
		nameIndex: map[string]int{},
		blobIndex: map[string]int{},
	}

	// Old formats and legacy net inputs become today's layers (on a copy).
	if len(param.GetLayers()) > 0 || len(param.GetInput()) > 0 || len(param.GetInputShape()) > 0 || len(param.GetInputDim()) > 0 {
		param = proto.Clone(param).(*caffepb.NetParameter)
		if _, err := prototxt.UpgradeNet(param); err != nil {
			return nil, fmt.Errorf("net %q: %w", param.GetName(), err)
		}
	}
	if err := prototxt.CheckRules(param); err != nil {
		return nil, fmt.Errorf("net %q: %w", param.GetName(), err)
	}
	state := proto.Clone(param.GetState()).(*caffepb.NetState)
	if state == nil {
		state = &caffepb.NetState{}
	}
	state.Phase = c.Phase.Enum()
	n.state = state
	filtered := prototxt.FilterNet(param, state)
	if n.logf != nil {
		n.logf("Initializing net from parameters: \n%s", prototext.MarshalOptions{Multiline: true, Indent: "  "}.Format(withoutBlobs(filtered)))
	}

	protos, consumers, err := n.wire(filtered)
	if err != nil {
		return nil, err
	}
	if err := n.build(protos, consumers); err != nil {
		return nil, err
	}
	n.debug = param.GetDebugInfo() && n.logf != nil
	n.analyzeBackward(param.GetForceBackward())
	n.findOutputs()
	if n.logf != nil {
		for _, name := range n.outputNames {
			n.logf("This network produces output %s", name)
		}
		n.logf("Network initialization done.")
	}
	return n, nil
}

// withoutBlobs returns p, or a copy without layer blobs when it has some, so
// the construction log does not print weights.
func withoutBlobs(p *caffepb.NetParameter) *caffepb.NetParameter {
	has := false
	for _, l := range p.GetLayer() {
		if len(l.GetBlobs()) > 0 {
			has = true
		}
	}
	if !has {
		return p
	}
	c := proto.Clone(p).(*caffepb.NetParameter)
	for _, l := range c.Layer {
		l.Blobs = nil
	}
	return c
}

func layerLabel(lp *caffepb.LayerParameter, i int) string {
	if lp.GetName() != "" {
		return lp.GetName()
	}
	return fmt.Sprintf("#%d (unnamed %s)", i, lp.GetType())
}

// checkTypes reports every layer whose type cos cannot build in one error,
// so that a user porting a net learns all at once what needs replacing
// (an LRCN net, say, has Embed and several LSTM layers), not one per run.
func checkTypes(filtered *caffepb.NetParameter) error {
	var first error
	var others []string
	for i, lp := range filtered.GetLayer() {
		if lp.GetType() == "" {
			continue // reported, with its position, by wire
		}
		if _, err := layers.Lookup(lp.GetType()); err != nil {
			label := layerLabel(lp, i)
			if first == nil {
				first = fmt.Errorf("layer %s: %w", label, err)
				continue
			}
			others = append(others, fmt.Sprintf("%s (%s)", label, lp.GetType()))
		}
	}
	if first != nil && len(others) > 0 {
		return fmt.Errorf("%w; other layers of types cos cannot build: %s", first, strings.Join(others, ", "))
	}
	return first
}

// wire is the first pass: it creates the layers, resolves every bottom to
// the top it reads, checks names, settles loss weights and counts the
// readers of every top (a loss counts as a reader, as in Caffe's
// InsertSplits).
func (n *Net) wire(filtered *caffepb.NetParameter) ([]*proto1, map[srcRef]int, error) {
	var protos []*proto1
	last := map[string]srcRef{}     // blob name -> its latest producer
	producer := map[string]string{} // blob name -> first producing layer, for messages
	consumers := map[srcRef]int{}
	if err := checkTypes(filtered); err != nil {
		return nil, nil, err
	}
	for i, lp := range filtered.GetLayer() {
		label := layerLabel(lp, i)
		if lp.GetType() == "" {
			return nil, nil, fmt.Errorf("layer %s: no type given", label)
		}
		if pd := len(lp.GetPropagateDown()); pd != 0 && pd != len(lp.GetBottom()) {
			return nil, nil, fmt.Errorf("layer %s: propagate_down must be given 0 times or once per bottom (%d), got %d", label, len(lp.GetBottom()), pd)
		}
		p := &proto1{lp: lp, label: label}
		for _, b := range lp.GetBottom() {
			src, ok := last[b]
			if !ok {
				return nil, nil, fmt.Errorf("layer %s: unknown bottom blob '%s' (no earlier layer produces it)", label, b)
			}
			p.srcs = append(p.srcs, src)
			consumers[src]++
		}
		for j, t := range lp.GetTop() {
			inPlace := j < len(lp.GetBottom()) && lp.GetBottom()[j] == t
			if !inPlace {
				if k := slices.Index(lp.GetBottom(), t); k >= 0 {
					return nil, nil, fmt.Errorf("layer %s: top %d '%s' is bottom %d; a layer computes in place only when top i and bottom i have the same name", label, j, t, k)
				}
				if other, dup := producer[t]; dup {
					if other == label {
						return nil, nil, fmt.Errorf("layer %s: top blob '%s' given twice", label, t)
					}
					return nil, nil, fmt.Errorf("layer %s: top blob '%s' is already produced by layer %s (a top may reuse a name only in place, as top i of a layer whose bottom i has that name)", label, t, other)
				}
				producer[t] = label
			}
			last[t] = srcRef{i, j}
		}
		ctor, err := layers.Lookup(lp.GetType())
		if err != nil {
			return nil, nil, fmt.Errorf("layer %s: %w", label, err)
		}
		l, err := construct(ctor, lp, n.ctx)
		if err != nil {
			return nil, nil, wrapLayerErr(label, lp.GetType(), err)
		}
		if l == nil {
			return nil, nil, fmt.Errorf("layer %s: constructor of type %q returned no layer", label, lp.GetType())
		}
		p.layer = l
		nt := len(lp.GetTop())
		lw := lp.GetLossWeight()
		switch {
		case len(lw) == 0:
			p.lossWeights = make([]float32, nt)
			if ll, ok := l.(layers.LossLayer); ok && ll.IsLoss() && nt > 0 {
				p.lossWeights[0] = 1
			}
		case len(lw) == nt:
			p.lossWeights = append([]float32(nil), lw...)
		default:
			return nil, nil, fmt.Errorf("layer %s: loss_weight must be given 0 times or once per top (%d), got %d", label, nt, len(lw))
		}
		for j, w := range p.lossWeights {
			if w != 0 {
				consumers[srcRef{i, j}]++
			}
		}
		protos = append(protos, p)
	}
	return protos, consumers, nil
}

// construct and safeSetup turn a layer's panic (a bug, or a parameter it
// failed to validate) into an error naming the layer, so that a bad prototxt
// never crashes the caller.
func construct(ctor layers.Constructor, lp *caffepb.LayerParameter, ctx *layers.Context) (l layers.Layer, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("constructor panicked: %v", r)
		}
	}()
	return ctor(lp, ctx)
}

func safeSetup(nd *node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("Setup panicked: %v", r)
		}
	}()
	return nd.layer.Setup(nd.bottom, nd.top)
}

// namesLayer reports whether an error message already names the layer the
// way layer errors do ("layer \"conv1\" (...)" or "layer conv1 ...").
func namesLayer(err error, name string) bool {
	msg := err.Error()
	return name != "" && (strings.Contains(msg, "layer \""+name+"\"") || strings.Contains(msg, "layer "+name+" ") || strings.Contains(msg, "layer "+name+":"))
}

func wrapLayerErr(label, typ string, err error) error {
	if namesLayer(err, label) {
		return err
	}
	return fmt.Errorf("layer %s (%s): %w", label, typ, err)
}

// build is the second pass: it creates the blobs, inserts the Split layers,
// sets every layer up in order and collects params.
func (n *Net) build(protos []*proto1, consumers map[srcRef]int) error {
	blobOf := map[srcRef]*layers.Blob{}
	splits := map[srcRef]*splitInfo{}
	blobID := map[*layers.Blob]int{}
	newBlob := func(name string) *layers.Blob {
		b := &layers.Blob{Name: name}
		blobID[b] = len(n.blobs)
		if _, dup := n.blobIndex[name]; !dup {
			n.blobIndex[name] = len(n.blobs)
		}
		n.blobs = append(n.blobs, b)
		return b
	}
	var memory int64
	owners := map[string]*Param{}
	lrSet := map[*Param]bool{}    // lr_mult given explicitly for a shared param
	decaySet := map[*Param]bool{} // decay_mult likewise

	for i, p := range protos {
		lp := proto.Clone(p.lp).(*caffepb.LayerParameter)
		blobs := lp.Blobs
		lp.Blobs = nil
		nd := &node{name: p.lp.GetName(), lp: lp, layer: p.layer, lossWeights: p.lossWeights}
		if n.logf != nil {
			n.logf("Creating Layer %s", p.label)
		}
		for j, src := range p.srcs {
			var b *layers.Blob
			if sp := splits[src]; sp != nil {
				b = sp.tops[sp.next]
				sp.next++
			} else {
				b = blobOf[src]
			}
			lp.Bottom[j] = b.Name
			nd.bottom = append(nd.bottom, b)
			nd.bottomIDs = append(nd.bottomIDs, blobID[b])
			if n.logf != nil {
				n.logf("%s <- %s", p.label, b.Name)
			}
		}
		for j, t := range p.lp.GetTop() {
			var b *layers.Blob
			if j < len(p.lp.GetBottom()) && p.lp.GetBottom()[j] == t {
				b = nd.bottom[j]
				lp.Top[j] = b.Name
				if n.logf != nil {
					n.logf("%s -> %s (in-place)", p.label, b.Name)
				}
			} else {
				b = newBlob(t)
				if n.logf != nil {
					n.logf("%s -> %s", p.label, t)
				}
			}
			blobOf[srcRef{i, j}] = b
			nd.top = append(nd.top, b)
			nd.topIDs = append(nd.topIDs, blobID[b])
		}
		// A split takes over a weighted top's loss (on its top 0).
		var splitLoss []float32
		for j := range nd.top {
			if consumers[srcRef{i, j}] > 1 && nd.lossWeights[j] != 0 {
				if splitLoss == nil {
					splitLoss = make([]float32, len(nd.top))
				}
				splitLoss[j] = nd.lossWeights[j]
				nd.lossWeights[j] = 0
				lp.LossWeight = append([]float32(nil), nd.lossWeights...)
			}
		}
		if err := n.setup(nd, p.label, &memory); err != nil {
			return err
		}
		if len(blobs) > 0 {
			if len(blobs) != len(nd.params) {
				return fmt.Errorf("layer %s: LayerParameter holds %d blobs, the layer has %d params", p.label, len(blobs), len(nd.params))
			}
			for k, bp := range blobs {
				if err := checkProtoShape(p.label, k, bp, nd.params[k]); err != nil {
					return err
				}
				if err := nd.params[k].FromProto(bp, false); err != nil {
					return fmt.Errorf("layer %s: %w", p.label, err)
				}
			}
		}

		// Params (Caffe's AppendParam).
		specs := lp.GetParam()
		if len(specs) > len(nd.params) {
			return fmt.Errorf("layer %s: %d param specs given, but the layer has only %d params", p.label, len(specs), len(nd.params))
		}
		for k, pb := range nd.params {
			var spec *caffepb.ParamSpec
			if k < len(specs) {
				spec = specs[k]
			}
			lr, decay := spec.GetLrMult(), spec.GetDecayMult()
			if spec == nil && lp.GetType() == "BatchNorm" {
				// BatchNorm's params are running statistics, never learned
				// (Caffe's BatchNorm masks them with lr_mult 0 itself).
				lr, decay = 0, 0
			}
			nd.paramNeedsBackward = append(nd.paramNeedsBackward, lr != 0)
			pname := spec.GetName()
			owner, shared := owners[pname]
			if pname == "" || !shared {
				prm := &Param{Blob: pb, LrMult: lr, DecayMult: decay, Owner: nd.name, Index: k, Name: pname, ID: len(n.learnable)}
				if pname != "" {
					owners[pname] = prm
					lrSet[prm] = spec.LrMult != nil
					decaySet[prm] = spec.DecayMult != nil
				}
				n.learnable = append(n.learnable, prm)
				nd.ready = append(nd.ready, prm)
				continue
			}
			if n.logf != nil {
				n.logf("Sharing parameters '%s' owned by layer '%s', param index %d", pname, owner.Owner, owner.Index)
			}
			if spec.GetShareMode() == caffepb.ParamSpec_PERMISSIVE {
				if pb.Count() != owner.Blob.Count() {
					return fmt.Errorf("layer %s: cannot share param '%s' owned by layer %s: count mismatch; owner's shape is %s, this layer's is %s",
						p.label, pname, owner.Owner, owner.Blob.ShapeString(), pb.ShapeString())
				}
			} else if !pb.ShapeEquals(owner.Blob.Shape()) {
				return fmt.Errorf("layer %s: cannot share param '%s' owned by layer %s: shape mismatch; owner's shape is %s, this layer's is %s (share_mode PERMISSIVE compares counts only)",
					p.label, pname, owner.Owner, owner.Blob.ShapeString(), pb.ShapeString())
			}
			if spec.LrMult != nil {
				if lrSet[owner] && owner.LrMult != spec.GetLrMult() {
					return fmt.Errorf("layer %s: shared param '%s' has lr_mult %g, but %g was given before (owner %s)", p.label, pname, spec.GetLrMult(), owner.LrMult, owner.Owner)
				}
				owner.LrMult, lrSet[owner] = spec.GetLrMult(), true
			}
			if spec.DecayMult != nil {
				if decaySet[owner] && owner.DecayMult != spec.GetDecayMult() {
					return fmt.Errorf("layer %s: shared param '%s' has decay_mult %g, but %g was given before (owner %s)", p.label, pname, spec.GetDecayMult(), owner.DecayMult, owner.Owner)
				}
				owner.DecayMult, decaySet[owner] = spec.GetDecayMult(), true
			}
			n.shares = append(n.shares, share{pb, owner.Blob})
		}

		idx := len(n.nodes)
		if _, dup := n.nameIndex[nd.name]; !dup {
			n.nameIndex[nd.name] = idx
		}
		n.nodes = append(n.nodes, nd)

		// Split every top read more than once (a loss counting as a read).
		for j, t := range nd.top {
			cnt := consumers[srcRef{i, j}]
			if cnt <= 1 {
				continue
			}
			blobName := p.lp.GetTop()[j]
			sname := fmt.Sprintf("%s_%s_%d_split", blobName, nd.name, j)
			slp := &caffepb.LayerParameter{Name: proto.String(sname), Type: proto.String("Split"), Bottom: []string{t.Name}, Phase: n.phase.Enum()}
			snd := &node{name: sname, lp: slp, layer: &splitLayer{name: sname}, bottom: []*layers.Blob{t}, bottomIDs: []int{blobID[t]}}
			sp := &splitInfo{}
			for k := 0; k < cnt; k++ {
				sb := newBlob(fmt.Sprintf("%s_%s_%d_split_%d", blobName, nd.name, j, k))
				slp.Top = append(slp.Top, sb.Name)
				sp.tops = append(sp.tops, sb)
				snd.top = append(snd.top, sb)
				snd.topIDs = append(snd.topIDs, blobID[sb])
			}
			snd.lossWeights = make([]float32, cnt)
			if splitLoss != nil && splitLoss[j] != 0 {
				snd.lossWeights[0] = splitLoss[j]
				slp.LossWeight = append([]float32(nil), snd.lossWeights...)
				sp.next = 1
			}
			splits[srcRef{i, j}] = sp
			if n.logf != nil {
				n.logf("Creating Layer %s", sname)
				n.logf("%s <- %s", sname, t.Name)
				for _, sb := range sp.tops {
					n.logf("%s -> %s", sname, sb.Name)
				}
			}
			if err := n.setup(snd, sname, &memory); err != nil {
				return err
			}
			n.nameIndex[sname] = len(n.nodes)
			n.nodes = append(n.nodes, snd)
		}
	}
	// Caffe's ShareWeights: users see the owner's values and add their
	// gradient into the owner's.
	for _, s := range n.shares {
		s.user.ShareData(s.owner)
		s.user.ShareDiff(s.owner)
	}
	return nil
}

// setup runs the layer's Setup, sizes its per-call state and logs its tops.
func (n *Net) setup(nd *node, label string, memory *int64) error {
	if n.logf != nil {
		n.logf("Setting up %s", label)
	}
	if err := safeSetup(nd); err != nil {
		return wrapLayerErr(label, nd.layer.Type(), err)
	}
	nd.lastShapes = make([][]int, len(nd.bottom))
	nd.recordShapes()
	nd.params = nd.layer.Params()
	for j, t := range nd.top {
		if nd.lossWeights[j] != 0 {
			nd.losses = append(nd.losses, lossTop{t, nd.lossWeights[j]})
		}
		*memory += int64(t.Count())
		if n.logf != nil {
			n.logf("Top shape: %s", t.ShapeString())
			if nd.lossWeights[j] != 0 {
				n.logf("    with loss weight %g", nd.lossWeights[j])
			}
		}
	}
	if n.logf != nil {
		n.logf("Memory required for data: %d", *memory*4)
	}
	return nil
}

// analyzeBackward decides which layers and bottoms need a gradient, as
// Caffe's Net::Init does: forward, a layer needs backward if a bottom blob
// needs one or a param has lr_mult != 0; backward, layers that contribute to
// no loss, or whose tops' gradients nobody computes, are skipped.
func (n *Net) analyzeBackward(force bool) {
	blobNeeds := make([]bool, len(n.blobs))
	for _, nd := range n.nodes {
		pd := nd.lp.GetPropagateDown()
		bp, _ := nd.layer.(layers.BottomPropagator)
		need := false
		nd.bottomNeedsBackward = make([]bool, len(nd.bottom))
		for j, id := range nd.bottomIDs {
			b := blobNeeds[id]
			if len(pd) > 0 {
				b = pd[j]
			}
			if bp != nil && !bp.AllowForceBackward(j) {
				b = false
			}
			nd.bottomNeedsBackward[j] = b
			need = need || blobNeeds[id]
		}
		for _, pn := range nd.paramNeedsBackward {
			need = need || pn
		}
		nd.needsBackward = need
		if need {
			for _, id := range nd.topIDs {
				blobNeeds[id] = true
			}
		}
	}
	underLoss := make([]bool, len(n.blobs))
	skipBackprop := make([]bool, len(n.blobs))
	for i := len(n.nodes) - 1; i >= 0; i-- {
		nd := n.nodes[i]
		contributes, skip := false, true
		for j, id := range nd.topIDs {
			if nd.lossWeights[j] != 0 || underLoss[id] {
				contributes = true
			}
			if !skipBackprop[id] {
				skip = false
			}
		}
		if nd.needsBackward && skip {
			nd.needsBackward = false
			clear(nd.bottomNeedsBackward)
		}
		if !contributes {
			nd.needsBackward = false
		}
		for j, id := range nd.bottomIDs {
			if contributes {
				underLoss[id] = true
			} else {
				nd.bottomNeedsBackward[j] = false
			}
			if !nd.bottomNeedsBackward[j] {
				skipBackprop[id] = true
			}
		}
	}
	if n.logf != nil {
		for _, nd := range n.nodes {
			if nd.needsBackward {
				n.logf("%s needs backward computation.", nd.name)
			} else {
				n.logf("%s does not need backward computation.", nd.name)
			}
		}
	}
	if force {
		for _, nd := range n.nodes {
			nd.needsBackward = true
			bp, _ := nd.layer.(layers.BottomPropagator)
			for j := range nd.bottom {
				if bp == nil || bp.AllowForceBackward(j) {
					nd.bottomNeedsBackward[j] = true
				}
			}
		}
	}
}

// findOutputs collects the tops no later layer reads (Caffe's net outputs),
// sorted by name.
func (n *Net) findOutputs() {
	available := map[int]bool{}
	for _, nd := range n.nodes {
		for _, id := range nd.bottomIDs {
			delete(available, id)
		}
		for _, id := range nd.topIDs {
			available[id] = true
		}
	}
	weight := map[int]float32{}
	for _, nd := range n.nodes {
		for j, id := range nd.topIDs {
			if nd.lossWeights[j] != 0 {
				weight[id] = nd.lossWeights[j]
			}
		}
	}
	ids := make([]int, 0, len(available))
	for id := range available {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool { return n.blobs[ids[a]].Name < n.blobs[ids[b]].Name })
	for _, id := range ids {
		n.outputs = append(n.outputs, n.blobs[id])
		n.outputNames = append(n.outputNames, n.blobs[id].Name)
		n.outputWeights = append(n.outputWeights, weight[id])
	}
}
