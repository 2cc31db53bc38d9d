package layers

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

func TestPoolingOutputSize(t *testing.T) {
	// Hand-computed from Caffe's rule ceil((H+2p-k)/s)+1, then minus one
	// if pad > 0 and (out-1)*s >= H+p.
	cases := []struct {
		param      string
		h, w       int
		outH, outW int
	}{
		{`kernel_size: 2 stride: 2`, 28, 28, 14, 14},                    // LeNet
		{`kernel_size: 2 stride: 2`, 5, 5, 3, 3},                        // ceil: last window holds one pixel
		{`kernel_size: 2 stride: 2 round_mode: FLOOR`, 5, 5, 2, 2},      // floor drops it
		{`kernel_size: 3 stride: 2`, 13, 13, 6, 6},                      // AlexNet pool5
		{`kernel_size: 3 stride: 2`, 55, 55, 27, 27},                    // AlexNet pool1
		{`kernel_size: 3 stride: 2 pad: 1`, 6, 6, 4, 4},                 // ceil(2.5)+1 = 4, 6 < 7 kept
		{`kernel_size: 2 stride: 2 pad: 1`, 5, 5, 3, 3},                 // ceil(2.5)+1 = 4, 6 >= 6 clipped
		{`kernel_size: 3 stride: 2 pad: 1`, 4, 4, 3, 3},                 // ceil(1.5)+1 = 3, 4 < 5 kept
		{`kernel_size: 3 stride: 3 pad: 1`, 7, 7, 3, 3},                 // ceil(6/3)+1 = 3, 6 < 8 kept
		{`kernel_h: 3 kernel_w: 2 stride_h: 1 stride_w: 2`, 4, 7, 2, 4}, // ceil(5/2)+1 = 4
		{`kernel_size: 2 pad_h: 1 pad_w: 0 stride: 2`, 4, 4, 3, 2},      // H: ceil(4/2)+1 = 3, 4 < 5 kept; W: 2
		{`global_pooling: true`, 6, 5, 1, 1},
		{`kernel_size: 1 stride: 3`, 5, 5, 3, 3}, // ceil(4/3)+1 = 3: the last window is empty
	}
	for i, c := range cases {
		t.Run(fmt.Sprint(i, " ", c.param), func(t *testing.T) {
			for _, method := range []string{"MAX", "AVE"} {
				l := buildLayer(t, `name: "pool" type: "Pooling" pooling_param { pool: `+method+` `+c.param+` }`)
				top := &Blob{}
				if err := l.Setup([]*Blob{NewBlob(2, 3, c.h, c.w)}, []*Blob{top}); err != nil {
					t.Fatal(err)
				}
				if want := []int{2, 3, c.outH, c.outW}; !top.ShapeEquals(want) {
					t.Errorf("%s: top shape %v, want %v", method, top.Shape(), want)
				}
			}
		})
	}
}

func TestPoolingForwardHandComputed(t *testing.T) {
	seq := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(i + 1)
		}
		return x
	}
	ones := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = 1
		}
		return x
	}
	cases := []struct {
		name  string
		param string
		h, w  int
		in    []float32
		want  []float32
		mask  []float32 // MAX only
	}{
		{"max 4x4 k2 s2", `pool: MAX kernel_size: 2 stride: 2`, 4, 4,
			[]float32{1, 5, 2, 0, 3, 4, 9, 9, 0, 0, -1, -2, 7, 0, -3, -4},
			[]float32{5, 9, 7, -1},
			[]float32{1, 6, 12, 10}}, // ties: the first maximum (index 6) wins
		{"max ceil k2 s2 on 3x3", `pool: MAX kernel_size: 2 stride: 2`, 3, 3, seq(9),
			[]float32{5, 6, 8, 9}, []float32{4, 5, 7, 8}},
		{"max pad", `pool: MAX kernel_size: 2 stride: 2 pad: 1`, 3, 3, seq(9),
			[]float32{1, 3, 7, 9}, []float32{0, 2, 6, 8}},
		// Windows overlapping the padding divide by the padded size:
		// rows {0}|{1,2}, cols {0}|{1,2}, each window 2x2 = 4.
		{"ave pad 3x3", `pool: AVE kernel_size: 2 stride: 2 pad: 1`, 3, 3, seq(9),
			[]float32{1.0 / 4, 5.0 / 4, 11.0 / 4, 28.0 / 4}, nil},
		// H = 4, k = 3, s = 2, p = 1: windows start at -1, 1, 3; the last is
		// clipped to H+pad = 5, so its divisor counts 2 rows, not 3.
		{"ave divisor clipped to H+pad", `pool: AVE kernel_size: 3 stride: 2 pad: 1`, 4, 4, ones(16),
			[]float32{4.0 / 9, 6.0 / 9, 2.0 / 6, 6.0 / 9, 1, 3.0 / 6, 2.0 / 6, 3.0 / 6, 1.0 / 4}, nil},
		// Kernel < stride: Caffe's rounding leaves the last window outside
		// the 5x5 image; MAX gives -FLT_MAX there and AVE 0.
		{"max empty window", `pool: MAX kernel_size: 1 stride: 3`, 5, 5, seq(25),
			[]float32{1, 4, -math.MaxFloat32, 16, 19, -math.MaxFloat32, -math.MaxFloat32, -math.MaxFloat32, -math.MaxFloat32},
			[]float32{0, 3, -1, 15, 18, -1, -1, -1, -1}},
		{"ave empty window", `pool: AVE kernel_size: 1 stride: 3`, 5, 5, seq(25),
			[]float32{1, 4, 0, 16, 19, 0, 0, 0, 0}, nil},
		{"ave global", `pool: AVE global_pooling: true`, 2, 3, seq(6), []float32{3.5}, nil},
		{"max global", `pool: MAX global_pooling: true`, 2, 3, seq(6), []float32{6}, []float32{5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := buildLayer(t, `name: "pool" type: "Pooling" pooling_param { `+c.param+` }`)
			bottom := NewBlob(1, 1, c.h, c.w)
			copy(bottom.Data, c.in)
			top := []*Blob{{Name: "out"}}
			if c.mask != nil {
				top = append(top, &Blob{Name: "mask"})
			}
			if err := l.Setup([]*Blob{bottom}, top); err != nil {
				t.Fatal(err)
			}
			if err := l.Forward([]*Blob{bottom}, top); err != nil {
				t.Fatal(err)
			}
			if top[0].Count() != len(c.want) {
				t.Fatalf("top shape %v, want %d values", top[0].Shape(), len(c.want))
			}
			for i, w := range c.want {
				if math.Abs(float64(top[0].Data[i]-w)) > 1e-6 {
					t.Errorf("top[%d] = %g, want %g (all %v)", i, top[0].Data[i], w, top[0].Data)
				}
			}
			for i, m := range c.mask {
				if top[1].Data[i] != m {
					t.Errorf("mask[%d] = %g, want %g", i, top[1].Data[i], m)
				}
			}
		})
	}
}

// distinctBlob fills a blob with a random permutation of well separated
// values, so max pooling has no ties within a finite-difference step.
func distinctBlob(rng *rand.Rand, shape ...int) *Blob {
	b := NewBlob(shape...)
	b.Name = "x"
	for i, p := range rng.Perm(b.Count()) {
		b.Data[i] = float32(p)*0.1 - float32(b.Count())*0.05
	}
	return b
}

func TestPoolingGradient(t *testing.T) {
	rng := rand.New(rand.NewSource(21))
	cases := []struct {
		param string
		h, w  int
	}{
		{`kernel_size: 2 stride: 2`, 4, 4},
		{`kernel_size: 3 stride: 2`, 7, 6},        // overlapping windows
		{`kernel_size: 3 stride: 2`, 8, 9},        // the same, last window row clipped
		{`kernel_size: 2 stride: 2`, 5, 5},        // ceil rounding: partial last window
		{`kernel_size: 3 stride: 2 pad: 1`, 6, 5}, // padding
		{`kernel_size: 2 stride: 2 pad: 1`, 5, 5}, // padding with the clip
		{`kernel_h: 3 kernel_w: 2 stride_h: 1 stride_w: 2 pad_h: 1`, 4, 5},
		{`global_pooling: true`, 3, 4},
		{`kernel_size: 2 stride: 3`, 7, 8}, // kernel < stride, partial last window
		{`kernel_size: 1 stride: 3`, 5, 5}, // an empty last window
	}
	for _, method := range []string{"MAX", "AVE"} {
		for _, c := range cases {
			if method == "MAX" && c.param == `kernel_size: 1 stride: 3` {
				// The empty window outputs -FLT_MAX, which swamps the
				// float64 objective of the numerical check.
				continue
			}
			t.Run(method+" "+c.param, func(t *testing.T) {
				l := buildLayer(t, `name: "pool" type: "Pooling" pooling_param { pool: `+method+` `+c.param+` }`)
				bottom := distinctBlob(rng, 2, 2, c.h, c.w)
				if err := (GradCheck{Seed: 3}).Check(l, []*Blob{bottom}, []*Blob{{Name: "y"}}); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func TestPoolingErrors(t *testing.T) {
	cases := []struct {
		param string
		shape []int
		tops  int
		frag  string
	}{
		{`pool: STOCHASTIC kernel_size: 2`, []int{1, 1, 4, 4}, 1, "STOCHASTIC"},
		{`pool: MAX`, []int{1, 1, 4, 4}, 1, "kernel"},
		{`pool: MAX kernel_h: 2`, []int{1, 1, 4, 4}, 1, "kernel_h and kernel_w"},
		{`pool: MAX kernel_size: 0`, []int{1, 1, 4, 4}, 1, "zero"},
		{`pool: MAX kernel_size: 2 kernel_h: 2 kernel_w: 2`, []int{1, 1, 4, 4}, 1, "not both"},
		{`pool: MAX kernel_size: 2 pad: 2`, []int{1, 1, 4, 4}, 1, "smaller than the kernel"},
		{`pool: MAX kernel_size: 2 stride: 0`, []int{1, 1, 4, 4}, 1, "stride"},
		{`pool: MAX global_pooling: true kernel_size: 2`, []int{1, 1, 4, 4}, 1, "global_pooling"},
		{`pool: AVE global_pooling: true pad: 1`, []int{1, 1, 4, 4}, 1, "global_pooling"},
		{`pool: MAX kernel_size: 5`, []int{1, 1, 4, 4}, 1, "larger than the padded input"},
		{`pool: MAX kernel_size: 2`, []int{1, 4, 4}, 1, "4 axes"},
		{`pool: AVE kernel_size: 2`, []int{1, 1, 4, 4}, 2, "top"},
		{`pool: MAX kernel_size: 2`, []int{1, 1, 4, 4}, 3, "top"},
	}
	for _, c := range cases {
		l := buildLayer(t, `name: "pool_bad" type: "Pooling" pooling_param { `+c.param+` }`)
		var top []*Blob
		for i := 0; i < c.tops; i++ {
			top = append(top, &Blob{})
		}
		wantErr(t, l.Setup([]*Blob{NewBlob(c.shape...)}, top), `"pool_bad"`, c.frag)
	}
	// No pooling_param at all.
	l := buildLayer(t, `name: "pool_none" type: "Pooling"`)
	wantErr(t, l.Setup([]*Blob{NewBlob(1, 1, 4, 4)}, []*Blob{{}}), `"pool_none"`, "kernel")
}
