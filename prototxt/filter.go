package prototxt

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cos-project/cos/prototxt/caffepb"
)

// StateMeetsRule reports whether state satisfies rule, with Caffe's
// semantics: every condition the rule sets must hold (phase equal, level
// within [min_level, max_level], all of stage present, none of not_stage
// present). A nil state is Caffe's default NetState (phase TEST, level 0, no
// stages); a nil rule is met by every state.
func StateMeetsRule(state *caffepb.NetState, rule *caffepb.NetStateRule) bool {
	if rule == nil {
		return true
	}
	if state == nil {
		state = &caffepb.NetState{}
	}
	if rule.Phase != nil && rule.GetPhase() != state.GetPhase() {
		return false
	}
	if rule.MinLevel != nil && state.GetLevel() < rule.GetMinLevel() {
		return false
	}
	if rule.MaxLevel != nil && state.GetLevel() > rule.GetMaxLevel() {
		return false
	}
	for _, s := range rule.GetStage() {
		if !slices.Contains(state.GetStage(), s) {
			return false
		}
	}
	for _, s := range rule.GetNotStage() {
		if slices.Contains(state.GetStage(), s) {
			return false
		}
	}
	return true
}

// LayerIncluded reports whether layer belongs to a net in state: with no
// rules it does; with include rules it does if any rule is met; with exclude
// rules it does unless any rule is met (Caffe's Net::FilterNet).
func LayerIncluded(layer *caffepb.LayerParameter, state *caffepb.NetState) bool {
	included := len(layer.GetInclude()) == 0
	for _, r := range layer.GetExclude() {
		if StateMeetsRule(state, r) {
			included = false
		}
	}
	for _, r := range layer.GetInclude() {
		if StateMeetsRule(state, r) {
			included = true
		}
	}
	return included
}

// FilterNet returns a copy of net holding only the layers that belong to a
// net in state (see LayerIncluded), with State set to state. As Caffe's
// Net::Init does, every kept layer without a phase of its own gets the
// state's phase. net should already be upgraded (LoadNet does that); legacy
// V1 `layers` entries are dropped from the copy. net is not modified.
func FilterNet(net *caffepb.NetParameter, state *caffepb.NetState) *caffepb.NetParameter {
	if state == nil {
		state = &caffepb.NetState{}
	}
	layers := net.GetLayer()
	out := &caffepb.NetParameter{}
	if net != nil {
		// Copy every field but the layers, without deep-copying all layers.
		dst := out.ProtoReflect()
		net.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			if name := fd.Name(); name != "layer" && name != "layers" {
				dst.Set(fd, v)
			}
			return true
		})
		out = proto.Clone(out).(*caffepb.NetParameter)
	}
	out.State = proto.Clone(state).(*caffepb.NetState)
	for _, l := range layers {
		if !LayerIncluded(l, state) {
			continue
		}
		c := proto.Clone(l).(*caffepb.LayerParameter)
		if c.Phase == nil {
			c.Phase = state.GetPhase().Enum()
		}
		out.Layer = append(out.Layer, c)
	}
	return out
}

// CheckRules returns an error naming the first layer that has both include
// and exclude rules, which Caffe rejects.
func CheckRules(net *caffepb.NetParameter) error {
	for i, l := range net.GetLayer() {
		if len(l.GetInclude()) > 0 && len(l.GetExclude()) > 0 {
			return fmt.Errorf("layer %s: specify either include rules or exclude rules, not both", layerLabel(l, i))
		}
	}
	return nil
}

// layerLabel names a layer in messages: its quoted name, or its index.
func layerLabel(l *caffepb.LayerParameter, i int) string {
	if l.GetName() != "" {
		return fmt.Sprintf("%q", l.GetName())
	}
	return fmt.Sprintf("#%d (unnamed, type %q)", i, l.GetType())
}
