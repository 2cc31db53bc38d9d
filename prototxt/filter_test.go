package prototxt

import (
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func state(phase caffepb.Phase, level int32, stages ...string) *caffepb.NetState {
	return &caffepb.NetState{Phase: phase.Enum(), Level: proto.Int32(level), Stage: stages}
}

func TestStateMeetsRule(t *testing.T) {
	train, test := caffepb.Phase_TRAIN, caffepb.Phase_TEST
	tests := []struct {
		name  string
		state *caffepb.NetState
		rule  *caffepb.NetStateRule
		want  bool
	}{
		{"empty rule", state(train, 0), &caffepb.NetStateRule{}, true},
		{"nil rule", state(train, 0), nil, true},
		{"phase match", state(train, 0), &caffepb.NetStateRule{Phase: train.Enum()}, true},
		{"phase mismatch", state(test, 0), &caffepb.NetStateRule{Phase: train.Enum()}, false},
		{"nil state is TEST", nil, &caffepb.NetStateRule{Phase: test.Enum()}, true},
		{"nil state not TRAIN", nil, &caffepb.NetStateRule{Phase: train.Enum()}, false},
		{"min level met", state(train, 2), &caffepb.NetStateRule{MinLevel: proto.Int32(2)}, true},
		{"min level not met", state(train, 1), &caffepb.NetStateRule{MinLevel: proto.Int32(2)}, false},
		{"max level met", state(train, 2), &caffepb.NetStateRule{MaxLevel: proto.Int32(2)}, true},
		{"max level exceeded", state(train, 3), &caffepb.NetStateRule{MaxLevel: proto.Int32(2)}, false},
		{"negative min level", state(train, 0), &caffepb.NetStateRule{MinLevel: proto.Int32(-1)}, true},
		{"stage present", state(train, 0, "a", "b"), &caffepb.NetStateRule{Stage: []string{"b"}}, true},
		{"all stages needed", state(train, 0, "a"), &caffepb.NetStateRule{Stage: []string{"a", "b"}}, false},
		{"not_stage absent", state(train, 0, "a"), &caffepb.NetStateRule{NotStage: []string{"b"}}, true},
		{"not_stage present", state(train, 0, "a", "b"), &caffepb.NetStateRule{NotStage: []string{"b"}}, false},
		{"everything", state(test, 5, "deploy"), &caffepb.NetStateRule{Phase: test.Enum(), MinLevel: proto.Int32(1),
			MaxLevel: proto.Int32(9), Stage: []string{"deploy"}, NotStage: []string{"train"}}, true},
	}
	for _, tc := range tests {
		if got := StateMeetsRule(tc.state, tc.rule); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

const filterNet = `name: "f"
layer { name: "always" type: "ReLU" }
layer { name: "train_only" type: "Data" include { phase: TRAIN } }
layer { name: "test_only" type: "Data" include { phase: TEST } }
layer { name: "not_test" type: "Dropout" exclude { phase: TEST } }
layer { name: "train_or_deploy" type: "X" include { phase: TRAIN } include { stage: "deploy" } }
layer { name: "level2" type: "X" include { min_level: 2 } }
layer { name: "own_phase" type: "X" phase: TRAIN }
`

func TestFilterNet(t *testing.T) {
	np, err := ParseNet([]byte(filterNet), "f.prototxt")
	if err != nil {
		t.Fatal(err)
	}
	orig := proto.Clone(np)
	tests := []struct {
		state *caffepb.NetState
		want  string
	}{
		{state(caffepb.Phase_TRAIN, 0), "always train_only not_test train_or_deploy own_phase"},
		{state(caffepb.Phase_TEST, 0), "always test_only own_phase"},
		{state(caffepb.Phase_TEST, 0, "deploy"), "always test_only train_or_deploy own_phase"},
		{state(caffepb.Phase_TEST, 3), "always test_only level2 own_phase"},
		{nil, "always test_only own_phase"},
	}
	for _, tc := range tests {
		f := FilterNet(np, tc.state)
		var names []string
		for _, l := range f.Layer {
			names = append(names, l.GetName())
		}
		if got := strings.Join(names, " "); got != tc.want {
			t.Errorf("state %v: layers %q, want %q", tc.state, got, tc.want)
		}
		if f.GetName() != "f" {
			t.Errorf("name lost")
		}
		wantPhase := tc.state.GetPhase()
		for _, l := range f.Layer {
			p := l.GetPhase()
			if l.GetName() == "own_phase" {
				if p != caffepb.Phase_TRAIN {
					t.Errorf("own_phase phase overwritten")
				}
			} else if p != wantPhase {
				t.Errorf("layer %s phase %v, want %v", l.GetName(), p, wantPhase)
			}
		}
		if f.GetState().GetPhase() != wantPhase {
			t.Errorf("state not recorded")
		}
	}
	if !proto.Equal(np, orig) {
		t.Error("FilterNet modified its input")
	}
}

func TestFilterTestdataLeNet(t *testing.T) {
	np, err := LoadNet(filepath.Join(testdata, "lenet_train_test.prototxt"))
	if err != nil {
		t.Fatal(err)
	}
	train := FilterNet(np, state(caffepb.Phase_TRAIN, 0))
	test := FilterNet(np, state(caffepb.Phase_TEST, 0))
	if len(train.Layer) != 9 || len(test.Layer) != 10 {
		t.Fatalf("train %d layers, test %d layers; want 9 and 10", len(train.Layer), len(test.Layer))
	}
	if train.Layer[0].GetDataParam().GetBatchSize() != 64 || test.Layer[0].GetDataParam().GetBatchSize() != 100 {
		t.Error("wrong data layer kept")
	}
}
