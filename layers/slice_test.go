package layers

import (
	"math/rand"
	"testing"
)

func TestSliceForward(t *testing.T) {
	x := blobOf([]float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 2, 6)
	cases := []struct {
		text   string
		shapes [][]int
		want   [][]float32
	}{
		{`slice_param { slice_point: 1 slice_point: 4 }`, [][]int{{2, 1}, {2, 3}, {2, 2}},
			[][]float32{{0, 6}, {1, 2, 3, 7, 8, 9}, {4, 5, 10, 11}}},
		{`slice_param { }`, [][]int{{2, 2}, {2, 2}, {2, 2}},
			[][]float32{{0, 1, 6, 7}, {2, 3, 8, 9}, {4, 5, 10, 11}}},
		{`slice_param { axis: 0 }`, [][]int{{1, 6}, {1, 6}},
			[][]float32{{0, 1, 2, 3, 4, 5}, {6, 7, 8, 9, 10, 11}}},
		{`slice_param { slice_dim: 1 slice_point: 5 }`, [][]int{{2, 5}, {2, 1}},
			[][]float32{{0, 1, 2, 3, 4, 6, 7, 8, 9, 10}, {5, 11}}},
	}
	for _, c := range cases {
		t.Run(c.text, func(t *testing.T) {
			l := buildLayer(t, `name: "s" type: "Slice" `+c.text)
			top := make([]*Blob, len(c.shapes))
			for i := range top {
				top[i] = &Blob{}
			}
			forward(t, l, []*Blob{x}, top)
			for i, tp := range top {
				if !tp.ShapeEquals(c.shapes[i]) {
					t.Fatalf("top %d shape %v, want %v", i, tp.Shape(), c.shapes[i])
				}
				near(t, "slice", tp.Data, c.want[i], 0)
			}
		})
	}
}

func TestSliceGradient(t *testing.T) {
	rng := rand.New(rand.NewSource(17))
	for _, c := range []struct {
		text string
		tops int
	}{
		{`slice_param { axis: 0 slice_point: 1 slice_point: 3 }`, 3},
		{`slice_param { axis: 1 }`, 2},
		{`slice_param { axis: 1 slice_point: 3 }`, 2},
		{`slice_param { axis: -1 slice_point: 1 }`, 2},
	} {
		t.Run(c.text, func(t *testing.T) {
			l := buildLayer(t, `name: "s" type: "Slice" `+c.text)
			top := make([]*Blob, c.tops)
			for i := range top {
				top[i] = &Blob{}
			}
			if err := (GradCheck{Seed: 9}).Check(l, []*Blob{randBlob(rng, "x", 4, 4, 2)}, top); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSliceErrors(t *testing.T) {
	x := NewBlob(2, 6)
	two := []*Blob{{}, {}}
	wantErr(t, buildErr(t, `name: "s1" type: "Slice" slice_param { slice_point: 6 }`, []*Blob{x}, two), `"s1"`, "slice_point", "out of range")
	wantErr(t, buildErr(t, `name: "s2" type: "Slice" slice_param { slice_point: 0 }`, []*Blob{x}, two), `"s2"`, "out of range")
	wantErr(t, buildErr(t, `name: "s3" type: "Slice" slice_param { slice_point: 4 slice_point: 2 }`, []*Blob{x}, []*Blob{{}, {}, {}}), `"s3"`, "strictly increasing")
	wantErr(t, buildErr(t, `name: "s4" type: "Slice" slice_param { slice_point: 2 }`, []*Blob{x}, []*Blob{{}, {}, {}}), `"s4"`, "one fewer")
	wantErr(t, buildErr(t, `name: "s5" type: "Slice"`, []*Blob{x}, []*Blob{{}, {}, {}, {}}), `"s5"`, "evenly divide")
	wantErr(t, buildErr(t, `name: "s6" type: "Slice" slice_param { axis: 0 slice_dim: 0 }`, []*Blob{x}, two), `"s6"`, "not both")
}
