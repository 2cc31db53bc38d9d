package layers

import (
	"math/rand"
	"strings"
	"testing"

	"github.com/cos-project/cos/prototxt/caffepb"
	"google.golang.org/protobuf/encoding/prototext"
)

// parseLayer reads a LayerParameter from prototxt text (test helper).
func parseLayer(t *testing.T, text string) *caffepb.LayerParameter {
	t.Helper()
	lp := &caffepb.LayerParameter{}
	if err := prototext.Unmarshal([]byte(text), lp); err != nil {
		t.Fatalf("parse %q: %v", text, err)
	}
	return lp
}

// buildLayer constructs a registered layer from prototxt text with a
// fixed-seed context.
func buildLayer(t *testing.T, text string) Layer {
	t.Helper()
	lp := parseLayer(t, text)
	ctor, err := Lookup(lp.GetType())
	if err != nil {
		t.Fatal(err)
	}
	l, err := ctor(lp, &Context{Phase: caffepb.Phase_TRAIN, Rand: rand.New(rand.NewSource(7))})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// randBlob returns a named blob with N(0,1) data.
func randBlob(rng *rand.Rand, name string, shape ...int) *Blob {
	b := NewBlob(shape...)
	b.Name = name
	FillGaussian(rng, 1, b.Data)
	return b
}

// wantErr fails unless err is non-nil and mentions every fragment.
func wantErr(t *testing.T, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("expected an error mentioning %q, got nil", fragments)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Fatalf("error %q does not mention %q", err, f)
		}
	}
}

func TestInputShapes(t *testing.T) {
	cases := []struct {
		name   string
		param  string
		tops   int
		shapes [][]int
	}{
		{"one shape for all", `shape { dim: 2 dim: 3 dim: 4 dim: 5 }`, 2, [][]int{{2, 3, 4, 5}, {2, 3, 4, 5}}},
		{"one per top", `shape { dim: 64 dim: 1 dim: 28 dim: 28 } shape { dim: 64 }`, 2, [][]int{{64, 1, 28, 28}, {64}}},
		{"none", ``, 1, [][]int{{7}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := buildLayer(t, `name: "data" type: "Input" input_param { `+c.param+` }`)
			var top []*Blob
			for i := 0; i < c.tops; i++ {
				top = append(top, NewBlob(7))
			}
			if err := l.Setup(nil, top); err != nil {
				t.Fatal(err)
			}
			for i, want := range c.shapes {
				if !top[i].ShapeEquals(want) {
					t.Errorf("top %d shape %v, want %v", i, top[i].Shape(), want)
				}
			}
		})
	}
}

func TestInputErrors(t *testing.T) {
	l := buildLayer(t, `name: "in0" type: "Input" input_param { shape { dim: 1 } shape { dim: 2 } shape { dim: 3 } }`)
	wantErr(t, l.Setup(nil, []*Blob{NewBlob(), NewBlob()}), `"in0"`, "once per top")
	l = buildLayer(t, `name: "in1" type: "Input" input_param { shape { dim: -1 } }`)
	wantErr(t, l.Setup(nil, []*Blob{NewBlob()}), `"in1"`, "negative")
	l = buildLayer(t, `name: "in2" type: "Input" input_param { shape { dim: 1 } }`)
	wantErr(t, l.Setup([]*Blob{NewBlob(1)}, []*Blob{NewBlob()}), `"in2"`, "bottom")
}
