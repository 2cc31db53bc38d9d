package layers

import (
	"math/rand"
	"testing"
)

func TestArgMax(t *testing.T) {
	// Two samples of 4 values; sample 1 has a tie (3 at indices 1 and 3).
	x := []float32{0.5, 2, -1, 1, 0, 3, 1, 3}
	for _, tc := range []struct {
		name, text string
		shape      []int
		want       []float32
	}{
		{"top1", `name: "a" type: "ArgMax"`, []int{2, 1, 1}, []float32{1, 3}},
		// Equal values: the larger index first, as Caffe's sort of pairs.
		{"top2", `name: "a" type: "ArgMax" argmax_param { top_k: 2 }`, []int{2, 1, 2}, []float32{1, 3, 3, 1}},
		{"max val", `name: "a" type: "ArgMax" argmax_param { top_k: 2 out_max_val: true }`, []int{2, 2, 2},
			[]float32{1, 3, 2, 1, 3, 1, 3, 3}},
		// Along axis 1 of a 2×4 bottom, the values themselves with out_max_val.
		{"axis", `name: "a" type: "ArgMax" argmax_param { axis: 1 }`, []int{2, 1}, []float32{1, 3}},
		{"axis max val", `name: "a" type: "ArgMax" argmax_param { axis: 1 out_max_val: true }`, []int{2, 1}, []float32{2, 3}},
		// Along axis 0: per column, which of the two rows is larger.
		{"axis 0", `name: "a" type: "ArgMax" argmax_param { axis: 0 }`, []int{1, 4}, []float32{0, 1, 1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := buildLayer(t, tc.text)
			top := &Blob{}
			forward(t, l, []*Blob{blobOf(x, 2, 4)}, []*Blob{top})
			if !top.ShapeEquals(tc.shape) {
				t.Fatalf("top shape %v, want %v", top.Shape(), tc.shape)
			}
			near(t, "top", top.Data, tc.want, 0)
		})
	}
	wantErr(t, buildErr(t, `name: "am" type: "ArgMax" argmax_param { top_k: 5 }`, []*Blob{NewBlob(2, 4)}, []*Blob{{}}), `"am"`, "top_k")
}

func TestEmbed(t *testing.T) {
	l := buildLayer(t, `name: "emb" type: "Embed" embed_param { num_output: 3 input_dim: 4
		weight_filler { type: "gaussian" } bias_filler { type: "constant" value: 0.5 } }`)
	idx := blobOf([]float32{3, 0, 3}, 3)
	top := &Blob{}
	forward(t, l, []*Blob{idx}, []*Blob{top})
	if !top.ShapeEquals([]int{3, 3}) {
		t.Fatalf("top shape %v", top.Shape())
	}
	w := l.Params()[0].Data
	want := []float32{w[9] + 0.5, w[10] + 0.5, w[11] + 0.5, w[0] + 0.5, w[1] + 0.5, w[2] + 0.5, w[9] + 0.5, w[10] + 0.5, w[11] + 0.5}
	near(t, "top", top.Data, want, 1e-6)
	// Row 3 is used twice: its gradient is the sum.
	for i := range top.Diff {
		top.Diff[i] = float32(i)
	}
	l.Backward([]*Blob{top}, []bool{false}, []*Blob{idx})
	near(t, "dW row 3", l.Params()[0].Diff[9:12], []float32{0 + 6, 1 + 7, 2 + 8}, 0)
	near(t, "dW row 1", l.Params()[0].Diff[3:6], []float32{0, 0, 0}, 0)
	near(t, "db", l.Params()[1].Diff, []float32{9, 12, 15}, 0)

	g := buildLayer(t, `name: "emb" type: "Embed" embed_param { num_output: 2 input_dim: 5 weight_filler { type: "uniform" min: -1 max: 1 } }`)
	if err := (GradCheck{Seed: 2, Bottoms: []int{}}).Check(g, []*Blob{blobOf([]float32{4, 1, 1, 0}, 2, 2)}, []*Blob{{}}); err != nil {
		t.Error(err)
	}
	bad := buildLayer(t, `name: "emb2" type: "Embed" embed_param { num_output: 2 input_dim: 5 }`)
	top = &Blob{}
	b := blobOf([]float32{1, 5}, 2)
	if err := bad.Setup([]*Blob{b}, []*Blob{top}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, bad.Forward([]*Blob{b}, []*Blob{top}), `"emb2"`, "5", "[0, 5)")
	b.Data[1] = 1.5
	wantErr(t, bad.Forward([]*Blob{b}, []*Blob{top}), "1.5", "integer")
}

func TestTile(t *testing.T) {
	l := buildLayer(t, `name: "t" type: "Tile" tile_param { axis: 1 tiles: 3 }`)
	top := &Blob{}
	x := blobOf([]float32{1, 2, 3, 4}, 2, 2)
	forward(t, l, []*Blob{x}, []*Blob{top})
	if !top.ShapeEquals([]int{2, 6}) {
		t.Fatalf("shape %v", top.Shape())
	}
	near(t, "top", top.Data, []float32{1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4}, 0)
	rng := rand.New(rand.NewSource(8))
	for _, text := range []string{`tile_param { axis: 1 tiles: 2 }`, `tile_param { axis: -1 tiles: 3 }`, `tile_param { axis: 0 tiles: 2 }`} {
		g := buildLayer(t, `name: "t" type: "Tile" `+text)
		if err := (GradCheck{Seed: 1}).Check(g, []*Blob{randBlob(rng, "x", 2, 3, 2)}, []*Blob{{}}); err != nil {
			t.Errorf("%s: %v", text, err)
		}
	}
}

func TestReduction(t *testing.T) {
	x := []float32{1, -2, 3, -4, 0, 6}
	for _, tc := range []struct {
		text  string
		shape []int
		want  []float32
	}{
		{`reduction_param { }`, []int{}, []float32{4}},
		{`reduction_param { operation: ASUM axis: 1 }`, []int{2}, []float32{6, 10}},
		{`reduction_param { operation: SUMSQ axis: -1 coeff: 0.5 }`, []int{2}, []float32{7, 26}},
		{`reduction_param { operation: MEAN axis: 1 coeff: 2 }`, []int{2}, []float32{4.0 / 3, 4.0 / 3}},
	} {
		l := buildLayer(t, `name: "r" type: "Reduction" `+tc.text)
		top := &Blob{}
		forward(t, l, []*Blob{blobOf(x, 2, 3)}, []*Blob{top})
		if !top.ShapeEquals(tc.shape) {
			t.Errorf("%s: shape %v, want %v", tc.text, top.Shape(), tc.shape)
		}
		near(t, tc.text, top.Data, tc.want, 1e-6)
	}
	rng := rand.New(rand.NewSource(4))
	for _, text := range []string{`{ }`, `{ operation: ASUM axis: 1 }`, `{ operation: SUMSQ axis: 2 coeff: -1 }`, `{ operation: MEAN axis: 1 coeff: 3 }`} {
		g := buildLayer(t, `name: "r" type: "Reduction" reduction_param `+text)
		if err := (GradCheck{Seed: 6, Kink: 0, KinkRange: 0.02}).Check(g, []*Blob{randBlob(rng, "x", 2, 3, 4)}, []*Blob{{}}); err != nil {
			t.Errorf("%s: %v", text, err)
		}
	}
}

func TestCrop(t *testing.T) {
	// A 1×1×4×4 ramp cropped to 2×3 at offset (1, 0) on axes 2.. .
	x := NewBlob(1, 1, 4, 4)
	for i := range x.Data {
		x.Data[i] = float32(i)
	}
	ref := NewBlob(1, 1, 2, 3)
	l := buildLayer(t, `name: "c" type: "Crop" crop_param { offset: 1 offset: 0 }`)
	top := &Blob{}
	forward(t, l, []*Blob{x, ref}, []*Blob{top})
	if !top.ShapeEquals([]int{1, 1, 2, 3}) {
		t.Fatalf("shape %v", top.Shape())
	}
	near(t, "top", top.Data, []float32{4, 5, 6, 8, 9, 10}, 0)
	// One offset for every cropped axis, from axis 1.
	l = buildLayer(t, `name: "c" type: "Crop" crop_param { axis: 1 offset: 1 }`)
	a := NewBlob(2, 3, 4, 5)
	for i := range a.Data {
		a.Data[i] = float32(i)
	}
	top = &Blob{}
	forward(t, l, []*Blob{a, NewBlob(9, 2, 2, 2)}, []*Blob{top})
	if !top.ShapeEquals([]int{2, 2, 2, 2}) {
		t.Fatalf("shape %v", top.Shape())
	}
	// top (1,0,0,0) is bottom (1, 0+1, 0+1, 0+1) = 60 + 20 + 5 + 1; top
	// (1,1,1,1) is bottom (1, 2, 2, 2) = 60 + 40 + 10 + 2.
	if got := top.Data[8]; got != 86 {
		t.Errorf("top[8] = %v, want 86", got)
	}
	if got := top.Data[15]; got != 112 {
		t.Errorf("top[15] = %v, want 112", got)
	}
	rng := rand.New(rand.NewSource(5))
	g := buildLayer(t, `name: "c" type: "Crop" crop_param { axis: 2 offset: 1 offset: 2 }`)
	if err := (GradCheck{Seed: 3, Bottoms: []int{0}}).Check(g, []*Blob{randBlob(rng, "x", 2, 2, 4, 5), NewBlob(2, 2, 3, 2)}, []*Blob{{}}); err != nil {
		t.Error(err)
	}
	wantErr(t, buildErr(t, `name: "cr" type: "Crop" crop_param { offset: 3 }`, []*Blob{NewBlob(1, 1, 4, 4), NewBlob(1, 1, 2, 2)}, []*Blob{{}}), `"cr"`, "does not fit")
	wantErr(t, buildErr(t, `name: "cr" type: "Crop" crop_param { offset: 1 offset: 1 offset: 1 }`, []*Blob{NewBlob(1, 1, 4, 4), NewBlob(1, 1, 2, 2)}, []*Blob{{}}), `"cr"`, "3 values given for 2 cropped axes")
}
