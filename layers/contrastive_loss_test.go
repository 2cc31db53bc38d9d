package layers

import (
	"math/rand"
	"strings"
	"testing"
)

func TestContrastiveLossForward(t *testing.T) {
	// Two pairs of 2-d features: the first similar (y=1), the second not.
	a := blobOf([]float32{0, 0, 1, 1}, 2, 2, 1, 1)
	b := blobOf([]float32{3, 4, 1, 1.5}, 2, 2, 1, 1)
	y := blobOf([]float32{1, 0}, 2, 1, 1, 1)
	for _, tc := range []struct {
		name, text string
		want       float32
		da         []float32
	}{
		// similar: d²=25; dissimilar: d=0.5, max(1-0.5,0)²=0.25; /(2·2).
		{"default", `name: "c" type: "ContrastiveLoss"`, (25 + 0.25) / 4,
			// alpha=1/2: similar a-b=(-3,-4)→(-1.5,-2); dissimilar -alpha·m/(d+1e-4)·(0,-0.5)
			[]float32{-1.5, -2, 0, -0.5 * 0.5 / (0.5 + 1e-4) * -0.5}},
		// legacy: dissimilar max(margin - d², 0) = 2 - 0.25.
		{"legacy", `name: "c" type: "ContrastiveLoss" contrastive_loss_param { margin: 2 legacy_version: true }`, (25 + 1.75) / 4,
			[]float32{-1.5, -2, 0, -0.5 * -0.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := buildLayer(t, tc.text)
			if ll, ok := l.(LossLayer); !ok || !ll.IsLoss() {
				t.Fatal("ContrastiveLoss is not a LossLayer")
			}
			top := &Blob{}
			forward(t, l, []*Blob{a, b, y}, []*Blob{top})
			near(t, "loss", top.Data, []float32{tc.want}, 1e-5)
			top.Diff[0] = 1
			l.Backward([]*Blob{top}, []bool{true, true, false}, []*Blob{a, b, y})
			near(t, "da", a.Diff, tc.da, 1e-5)
			for i := range b.Diff {
				if b.Diff[i] != -a.Diff[i] {
					t.Fatalf("db = %v, want -da = -%v", b.Diff, a.Diff)
				}
			}
		})
	}
}

func TestContrastiveLossGradient(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for _, text := range []string{
		// A large margin keeps every dissimilar pair inside it, away from the kink.
		`name: "c" type: "ContrastiveLoss" contrastive_loss_param { margin: 20 }`,
		`name: "c" type: "ContrastiveLoss" contrastive_loss_param { margin: 40 legacy_version: true }`,
	} {
		l := buildLayer(t, text)
		y := NewBlob(6, 1, 1, 1)
		for i := range y.Data {
			y.Data[i] = float32(i % 2)
		}
		bottom := []*Blob{randBlob(rng, "a", 6, 4, 1, 1), randBlob(rng, "b", 6, 4, 1, 1), y}
		// The 1e-4 Caffe adds to the distance makes the analytic gradient
		// differ from the exact one by about 1e-4 relative.
		if err := (GradCheck{Seed: 3, Bottoms: []int{0, 1}, Threshold: 5e-3}).Check(l, bottom, []*Blob{{}}); err != nil {
			t.Fatalf("%s: %v", text, err)
		}
	}
}

func TestContrastiveLossErrors(t *testing.T) {
	txt := `name: "closs" type: "ContrastiveLoss"`
	wantErr(t, buildErr(t, txt, []*Blob{NewBlob(2, 3), NewBlob(2, 4), NewBlob(2)}, []*Blob{{}}), `"closs"`, "same shape")
	wantErr(t, buildErr(t, txt, []*Blob{NewBlob(2, 3, 2, 2), NewBlob(2, 3, 2, 2), NewBlob(2)}, []*Blob{{}}), `"closs"`, "N×C×1×1")
	wantErr(t, buildErr(t, txt, []*Blob{NewBlob(2, 3), NewBlob(2, 3), NewBlob(3)}, []*Blob{{}}), `"closs"`, "one value per pair")
	wantErr(t, buildErr(t, txt, []*Blob{NewBlob(2, 3), NewBlob(2, 3)}, []*Blob{{}}), `"closs"`)
}

// A Caffe type cos does not implement gets an error saying so with a hint,
// and no type is both implemented and listed as unsupported.
func TestUnsupportedTypes(t *testing.T) {
	for typ, hint := range unsupported {
		if _, ok := registry[typ]; ok {
			t.Errorf("%s is registered but still listed as unsupported", typ)
		}
		_, err := Lookup(typ)
		if err == nil || !strings.Contains(err.Error(), "not supported by cos") || !strings.Contains(err.Error(), hint) {
			t.Errorf("Lookup(%q) = %v, want the unsupported hint", typ, err)
		}
	}
	if _, err := Lookup("NoSuchLayer"); err == nil || !strings.Contains(err.Error(), "unknown layer type") {
		t.Errorf("Lookup of a made-up type: %v", err)
	}
}
