package layers

import (
	"math"
	"math/rand"
	"testing"

	"github.com/cos-project/cos/prototxt/caffepb"
	"google.golang.org/protobuf/encoding/prototext"
)

func parseFiller(t *testing.T, text string) *caffepb.FillerParameter {
	t.Helper()
	p := &caffepb.FillerParameter{}
	if err := prototext.Unmarshal([]byte(text), p); err != nil {
		t.Fatal(err)
	}
	return p
}

func meanVar(x []float32) (float64, float64) {
	var s, ss float64
	for _, v := range x {
		s += float64(v)
	}
	m := s / float64(len(x))
	for _, v := range x {
		ss += (float64(v) - m) * (float64(v) - m)
	}
	return m, ss / float64(len(x))
}

func TestFillerStatistics(t *testing.T) {
	// Blob [64, 32, 3, 3]: count 18432, fan_in = count/num = 288,
	// fan_out = count/channels = 576, average 432.
	shape := []int{64, 32, 3, 3}
	cases := []struct {
		filler     string
		mean, vari float64 // expected moments
		lo, hi     float64 // every value must lie in [lo, hi]
	}{
		{`type: "uniform" min: -2 max: 3`, 0.5, 25.0 / 12, -2, 3},
		{`type: "gaussian" mean: 1 std: 2`, 1, 4, math.Inf(-1), math.Inf(1)},
		{`type: "gaussian"`, 0, 1, math.Inf(-1), math.Inf(1)},
		{`type: "xavier"`, 0, 1.0 / 288, -math.Sqrt(3.0 / 288), math.Sqrt(3.0 / 288)},
		{`type: "xavier" variance_norm: FAN_OUT`, 0, 1.0 / 576, -math.Sqrt(3.0 / 576), math.Sqrt(3.0 / 576)},
		{`type: "xavier" variance_norm: AVERAGE`, 0, 1.0 / 432, -math.Sqrt(3.0 / 432), math.Sqrt(3.0 / 432)},
		{`type: "msra"`, 0, 2.0 / 288, math.Inf(-1), math.Inf(1)},
		{`type: "msra" variance_norm: FAN_OUT`, 0, 2.0 / 576, math.Inf(-1), math.Inf(1)},
		{`type: "msra" variance_norm: AVERAGE`, 0, 2.0 / 432, math.Inf(-1), math.Inf(1)},
		{`type: "constant" value: 3.5`, 3.5, 0, 3.5, 3.5},
		{``, 0, 0, 0, 0}, // Caffe's default: constant 0
	}
	for _, c := range cases {
		t.Run(c.filler, func(t *testing.T) {
			b := NewBlob(shape...)
			if err := Fill(parseFiller(t, c.filler), b, rand.New(rand.NewSource(3))); err != nil {
				t.Fatal(err)
			}
			m, v := meanVar(b.Data)
			n := float64(len(b.Data))
			// Five standard errors for the mean; the variance of a sample
			// variance is below 3σ⁴/n for these distributions.
			if tol := 5*math.Sqrt(c.vari/n) + 1e-6; math.Abs(m-c.mean) > tol {
				t.Errorf("mean %g, want %g ± %g", m, c.mean, tol)
			}
			if tol := 5*math.Sqrt(3/n)*c.vari + 1e-9; math.Abs(v-c.vari) > tol {
				t.Errorf("variance %g, want %g ± %g", v, c.vari, tol)
			}
			for i, x := range b.Data {
				if float64(x) < c.lo-1e-6 || float64(x) > c.hi+1e-6 {
					t.Fatalf("value %d = %g outside [%g, %g]", i, x, c.lo, c.hi)
				}
			}
		})
	}
}

func TestFillerSparseGaussian(t *testing.T) {
	// sparse: 20 with 100 outputs keeps each weight with probability 0.2.
	b := NewBlob(100, 200)
	if err := Fill(parseFiller(t, `type: "gaussian" std: 1 sparse: 20`), b, rand.New(rand.NewSource(4))); err != nil {
		t.Fatal(err)
	}
	nz := 0
	for _, v := range b.Data {
		if v != 0 {
			nz++
		}
	}
	frac := float64(nz) / float64(len(b.Data))
	if tol := 5 * math.Sqrt(0.2*0.8/float64(len(b.Data))); math.Abs(frac-0.2) > tol {
		t.Errorf("non-zero fraction %g, want 0.2 ± %g", frac, tol)
	}
}

func TestFillerPositiveUnitball(t *testing.T) {
	b := NewBlob(7, 3, 4)
	if err := Fill(parseFiller(t, `type: "positive_unitball"`), b, rand.New(rand.NewSource(5))); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 7; i++ {
		var s float64
		for _, v := range b.Data[i*12 : (i+1)*12] {
			if v < 0 {
				t.Fatalf("negative value %g", v)
			}
			s += float64(v)
		}
		if math.Abs(s-1) > 1e-5 {
			t.Errorf("row %d sums to %g", i, s)
		}
	}
}

func TestFillerBilinear(t *testing.T) {
	// 4x4 kernel: f = 2, c = 0.75, so each axis weighs 1-|x/2-0.75| =
	// 0.25, 0.75, 0.75, 0.25 and the kernel is their outer product.
	b := NewBlob(2, 1, 4, 4)
	if err := Fill(parseFiller(t, `type: "bilinear"`), b, rand.New(rand.NewSource(1))); err != nil {
		t.Fatal(err)
	}
	axis := []float32{0.25, 0.75, 0.75, 0.25}
	for i, v := range b.Data {
		want := axis[(i/4)%4] * axis[i%4]
		if math.Abs(float64(v-want)) > 1e-6 {
			t.Errorf("element %d = %g, want %g", i, v, want)
		}
	}
	// 5x5 (upsampling factor 3): f = 3, c = 2/3: 1/3, 2/3, 1, 2/3, 1/3.
	b = NewBlob(1, 1, 5, 5)
	if err := Fill(parseFiller(t, `type: "bilinear"`), b, nil); err != nil {
		t.Fatal(err)
	}
	for i, want := range map[int]float64{12: 1, 0: 1.0 / 9, 1: 2.0 / 9, 7: 2.0 / 3, 24: 1.0 / 9} {
		if math.Abs(float64(b.Data[i])-want) > 1e-6 {
			t.Errorf("5x5 element %d = %g, want %g", i, b.Data[i], want)
		}
	}
}

func TestFillerErrors(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	cases := []struct{ filler, frag string }{
		{`type: "nonsense"`, "unknown filler"},
		{`type: "uniform" min: 2 max: 1`, "min"},
		{`type: "gaussian" std: 0`, "std"},
		{`type: "xavier" sparse: 3`, "sparse"},
		{`type: "bilinear"`, "4-D"},
	}
	for _, c := range cases {
		wantErr(t, Fill(parseFiller(t, c.filler), NewBlob(4, 5), rng), c.frag)
	}
	wantErr(t, Fill(parseFiller(t, `type: "bilinear"`), NewBlob(1, 1, 3, 4), rng), "square")
}
