package layers

import (
	"testing"
)

func TestReshapeInference(t *testing.T) {
	// bottom 2x3x6x5 (180 values), cases after Caffe's own tests.
	cases := []struct {
		param string
		want  []int
	}{
		{`shape { dim: 0 dim: -1 }`, []int{2, 90}},
		{`shape { dim: -1 }`, []int{180}},
		{`shape { dim: 0 dim: 0 dim: 0 dim: 0 }`, []int{2, 3, 6, 5}},
		{`shape { dim: 6 dim: 2 dim: 3 dim: 5 }`, []int{6, 2, 3, 5}},
		{`shape { dim: 0 dim: 2 dim: -1 dim: 0 }`, []int{2, 2, 9, 5}},
		{`shape { dim: 1 } axis: 0 num_axes: 0`, []int{1, 2, 3, 6, 5}},
		{`shape { dim: 1 } axis: 1 num_axes: 0`, []int{2, 1, 3, 6, 5}},
		{`shape { dim: 1 } axis: -1 num_axes: 0`, []int{2, 3, 6, 5, 1}},
		{`shape { dim: -1 } axis: 1 num_axes: 2`, []int{2, 18, 5}},
		{`shape { dim: -1 dim: 1 } axis: -2`, []int{2, 3, 6, 5, 1}},
		{`shape { dim: 3 dim: -1 } axis: -4`, []int{2, 3, 30}},
		{`shape { dim: 3 dim: -1 } axis: -5`, []int{3, 60}},
		{`shape { dim: 0 dim: -1 } axis: 2`, []int{2, 3, 6, 5}},
	}
	for _, c := range cases {
		l := buildLayer(t, `name: "r" type: "Reshape" reshape_param { `+c.param+` }`)
		bottom, top := NewBlob(2, 3, 6, 5), &Blob{}
		forward(t, l, []*Blob{bottom}, []*Blob{top})
		if !top.ShapeEquals(c.want) {
			t.Errorf("%q: shape %v, want %v", c.param, top.Shape(), c.want)
		}
	}
}

func TestReshapeSharesStorageAndFollowsBottom(t *testing.T) {
	l := buildLayer(t, `name: "r" type: "Reshape" reshape_param { shape { dim: 0 dim: -1 } }`)
	bottom, top := NewBlob(2, 6), &Blob{}
	forward(t, l, []*Blob{bottom}, []*Blob{top})
	bottom.Data[11], top.Diff[3] = 5, 6
	if top.Data[11] != 5 || bottom.Diff[3] != 6 {
		t.Fatal("Reshape top does not share the bottom's data and diff")
	}
	// A new batch size reshapes through the copied and inferred dims.
	bottom.Reshape(4, 3, 2)
	if err := l.Reshape([]*Blob{bottom}, []*Blob{top}); err != nil {
		t.Fatal(err)
	}
	if !top.ShapeEquals([]int{4, 6}) {
		t.Fatalf("shape %v after bottom reshape, want [4 6]", top.Shape())
	}
}

func TestReshapeErrors(t *testing.T) {
	x := []*Blob{NewBlob(2, 3, 6, 5)}
	for _, c := range []struct {
		param    string
		fragment string
	}{
		{`shape { dim: -1 dim: -1 }`, "multiple -1"},
		{`shape { dim: 7 dim: 5 }`, "output count must match input count"},
		{`shape { dim: 7 dim: -1 }`, "divisible"},
		{`shape { dim: 0 dim: 0 dim: 0 dim: 0 dim: 0 }`, "no corresponding bottom axis"},
		{`shape { dim: -3 }`, "dimension -3"},
		{`shape { dim: 1 } axis: 5`, "axis 5"},
		{`shape { dim: 1 } axis: 3 num_axes: 2`, "extends past"},
	} {
		wantErr(t, buildErr(t, `name: "r9" type: "Reshape" reshape_param { `+c.param+` }`, x, []*Blob{{}}), `"r9"`, "Reshape", c.fragment)
	}
	wantErr(t, buildErr(t, `name: "r9" type: "Reshape"`, x, []*Blob{{}}), `"r9"`, "shape is required")
	wantErr(t, buildErr(t, `name: "r9" type: "Reshape" reshape_param { shape { dim: -1 } }`, x, x), `"r9"`, "in-place")
}
