package layers

import (
	"testing"
)

func TestFlattenShapes(t *testing.T) {
	cases := []struct {
		param string
		want  []int
	}{
		{``, []int{2, 60}},
		{`flatten_param { axis: 0 }`, []int{120}},
		{`flatten_param { axis: 1 end_axis: 2 }`, []int{2, 12, 5}},
		{`flatten_param { axis: 2 }`, []int{2, 3, 20}},
		{`flatten_param { axis: -2 end_axis: -1 }`, []int{2, 3, 20}},
		{`flatten_param { axis: 3 end_axis: 3 }`, []int{2, 3, 4, 5}},
	}
	for _, c := range cases {
		l := buildLayer(t, `name: "f" type: "Flatten" `+c.param)
		bottom, top := NewBlob(2, 3, 4, 5), &Blob{}
		forward(t, l, []*Blob{bottom}, []*Blob{top})
		if !top.ShapeEquals(c.want) {
			t.Errorf("%q: shape %v, want %v", c.param, top.Shape(), c.want)
		}
	}
}

func TestFlattenSharesStorage(t *testing.T) {
	l := buildLayer(t, `name: "f" type: "Flatten"`)
	bottom, top := NewBlob(2, 3, 2), &Blob{}
	forward(t, l, []*Blob{bottom}, []*Blob{top})
	bottom.Data[5], top.Diff[7] = 3, 4
	if top.Data[5] != 3 || bottom.Diff[7] != 4 {
		t.Fatal("Flatten top does not share the bottom's data and diff")
	}
}

func TestFlattenErrors(t *testing.T) {
	x := NewBlob(2, 3, 4)
	wantErr(t, buildErr(t, `name: "f1" type: "Flatten" flatten_param { axis: 2 end_axis: 1 }`, []*Blob{x}, []*Blob{{}}), `"f1"`, "end_axis")
	wantErr(t, buildErr(t, `name: "f2" type: "Flatten" flatten_param { axis: 3 }`, []*Blob{x}, []*Blob{{}}), `"f2"`, "axis 3")
	wantErr(t, buildErr(t, `name: "f3" type: "Flatten"`, []*Blob{x}, []*Blob{x}), `"f3"`, "in-place")
}
