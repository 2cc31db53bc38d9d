package layers

import (
	"testing"
)

func TestDummyDataShapesAndFillers(t *testing.T) {
	l := buildLayer(t, `name: "d" type: "DummyData" dummy_data_param {
		shape { dim: 2 dim: 3 } shape { dim: 4 }
		data_filler { type: "constant" value: 7 } data_filler { type: "gaussian" } }`)
	top := []*Blob{{}, {}}
	forward(t, l, nil, top)
	if !top[0].ShapeEquals([]int{2, 3}) || !top[1].ShapeEquals([]int{4}) {
		t.Fatalf("shapes %v %v", top[0].Shape(), top[1].Shape())
	}
	near(t, "constant top", top[0].Data, []float32{7, 7, 7, 7, 7, 7}, 0)
	// The constant top is filled once; the gaussian one on every Forward.
	top[0].Data[0] = -1
	before := append([]float32(nil), top[1].Data...)
	if err := l.Forward(nil, top); err != nil {
		t.Fatal(err)
	}
	if top[0].Data[0] != -1 {
		t.Error("constant top was refilled")
	}
	same := true
	for i := range before {
		same = same && before[i] == top[1].Data[i]
	}
	if same {
		t.Error("gaussian top was not refilled")
	}
}

func TestDummyDataLegacyShape(t *testing.T) {
	l := buildLayer(t, `name: "d" type: "DummyData" dummy_data_param { num: 5 channels: 2 channels: 3 height: 4 width: 1 }`)
	top := []*Blob{{}, {}}
	forward(t, l, nil, top)
	if !top[0].ShapeEquals([]int{5, 2, 4, 1}) || !top[1].ShapeEquals([]int{5, 3, 4, 1}) {
		t.Fatalf("shapes %v %v", top[0].Shape(), top[1].Shape())
	}
	for _, v := range top[1].Data {
		if v != 0 {
			t.Fatal("default filler must be constant 0")
		}
	}
}

func TestDummyDataErrors(t *testing.T) {
	two := []*Blob{{}, {}}
	for _, c := range []struct{ param, fragment string }{
		{`shape { dim: 1 } shape { dim: 2 } shape { dim: 3 }`, "shape must be specified once"},
		{`num: 1 shape { dim: 2 }`, "both shape and legacy"},
		{`num: 1 num: 2 num: 3 channels: 1 height: 1 width: 1`, "num must be"},
		{`shape { dim: 1 } data_filler { } data_filler { } data_filler { }`, "data fillers"},
		{`shape { dim: 2 } data_filler { type: "nope" }`, "nope"},
	} {
		wantErr(t, buildErr(t, `name: "dd" type: "DummyData" dummy_data_param { `+c.param+` }`, nil, two), `"dd"`, c.fragment)
	}
}
