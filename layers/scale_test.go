package layers

import (
	"math/rand"
	"testing"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func TestScaleForward(t *testing.T) {
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12} // shape 2x3x2
	cases := []struct {
		name   string
		text   string
		second *Blob // bottom[1], or nil for the param form
		params [][]float32
		want   []float32
	}{
		{"axis1 per channel", `scale_param { }`, nil, [][]float32{{1, 10, -1}},
			[]float32{1, 2, 30, 40, -5, -6, 7, 8, 90, 100, -11, -12}},
		{"with bias", `scale_param { bias_term: true }`, nil, [][]float32{{1, 10, -1}, {0.5, 0, 1}},
			[]float32{1.5, 2.5, 30, 40, -4, -5, 7.5, 8.5, 90, 100, -10, -11}},
		{"axis 0 num_axes 1", `scale_param { axis: 0 }`, nil, [][]float32{{2, -1}},
			[]float32{2, 4, 6, 8, 10, 12, -7, -8, -9, -10, -11, -12}},
		{"scalar num_axes 0", `scale_param { num_axes: 0 }`, nil, [][]float32{{3}},
			[]float32{3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 36}},
		{"axis -1", `scale_param { axis: -1 }`, nil, [][]float32{{1, -1}},
			[]float32{1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12}},
		{"bottom[1] 3x2 at axis 1", `scale_param { }`, blobOf([]float32{1, 0, 0, 1, 2, 2}, 3, 2), nil,
			[]float32{1, 0, 0, 4, 10, 12, 7, 0, 0, 10, 22, 24}},
		{"bottom[1] with bias", `scale_param { bias_term: true bias_filler { type: "constant" value: 1 } }`, blobOf([]float32{2, 0, 1}, 3), nil,
			[]float32{3, 5, 1, 1, 6, 7, 15, 17, 1, 1, 12, 13}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := buildLayer(t, `name: "sc" type: "Scale" `+c.text)
			bottom := []*Blob{blobOf(x, 2, 3, 2)}
			if c.second != nil {
				bottom = append(bottom, c.second)
			}
			top := []*Blob{{}}
			if err := l.Setup(bottom, top); err != nil {
				t.Fatal(err)
			}
			for i, p := range c.params {
				copy(l.Params()[i].Data, p)
			}
			if err := l.Forward(bottom, top); err != nil {
				t.Fatal(err)
			}
			near(t, "scale", top[0].Data, c.want, 1e-6)
		})
	}
}

func TestScaleDefaultFillers(t *testing.T) {
	l := buildLayer(t, `name: "sc" type: "Scale" scale_param { bias_term: true }`)
	bottom, top := randBlob(rand.New(rand.NewSource(1)), "x", 2, 3, 2, 2), &Blob{}
	forward(t, l, []*Blob{bottom}, []*Blob{top})
	near(t, "identity", top.Data, bottom.Data, 0)
	if n := len(l.Params()); n != 2 {
		t.Fatalf("%d params, want scale and bias", n)
	}
}

// scaleBiasCases are the parameter forms shared by the Scale and Bias
// gradient checks: the param shape follows axis/num_axes, or bottom[1]'s.
var scaleBiasCases = []struct {
	param  string
	second []int // shape of bottom[1], nil for the param form
}{
	{"axis: 1", nil},
	{"axis: 1 num_axes: 2", nil},
	{"axis: 0 num_axes: -1", nil},
	{"axis: 2 num_axes: 0", nil},
	{"axis: -2", nil},
	{"axis: 1", []int{3, 2}},
	{"axis: 0", []int{2}},
	{"axis: 1", []int{}},
}

func TestScaleGradient(t *testing.T) {
	for _, bias := range []bool{false, true} {
		for _, c := range scaleBiasCases {
			text := `name: "sc" type: "Scale" scale_param { ` + c.param + ` filler { type: "gaussian" } bias_filler { type: "gaussian" }`
			if bias {
				text += ` bias_term: true`
			}
			text += ` }`
			t.Run(text+formatShape(c.second), func(t *testing.T) {
				rng := rand.New(rand.NewSource(12))
				l := buildLayer(t, text)
				bottom := []*Blob{randBlob(rng, "x", 2, 3, 2, 2)}
				if c.second != nil {
					bottom = append(bottom, randBlob(rng, "s", c.second...))
				}
				if err := (GradCheck{Seed: 5}).Check(l, bottom, []*Blob{{}}); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func formatShape(s []int) string {
	if s == nil {
		return ""
	}
	return " bottom[1] " + NewBlob(s...).ShapeString()
}

func TestScaleInPlace(t *testing.T) {
	checkInPlace(t, `name: "sc" type: "Scale" scale_param { bias_term: true filler { type: "gaussian" } }`, caffepb.Phase_TRAIN, 2, 3, 2)
}

func TestScaleErrors(t *testing.T) {
	x := NewBlob(2, 3, 4)
	wantErr(t, buildErr(t, `name: "s1" type: "Scale"`, []*Blob{x, NewBlob(4)}, []*Blob{{}}), `"s1"`, "dimension mismatch")
	wantErr(t, buildErr(t, `name: "s2" type: "Scale" scale_param { axis: 2 num_axes: 2 }`, []*Blob{x}, []*Blob{{}}), `"s2"`, "extends past")
	wantErr(t, buildErr(t, `name: "s3" type: "Scale" scale_param { axis: 5 }`, []*Blob{x}, []*Blob{{}}), `"s3"`, "axis 5")
	wantErr(t, buildErr(t, `name: "s4" type: "Scale" scale_param { num_axes: -2 }`, []*Blob{x}, []*Blob{{}}), `"s4"`, "num_axes")
}
