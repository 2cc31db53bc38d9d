package layers

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

type convCase struct {
	name           string
	param          string // inside convolution_param
	n, c, h, w     int
	m, kh, kw      int
	ph, pw, sh, sw int
	dh, dw, group  int
	bias           bool
}

var convCases = []convCase{
	{"3x3", `num_output: 4 kernel_size: 3`, 2, 3, 6, 5, 4, 3, 3, 0, 0, 1, 1, 1, 1, 1, true},
	{"pad1 stride2", `num_output: 3 kernel_size: 3 pad: 1 stride: 2`, 2, 2, 7, 6, 3, 3, 3, 1, 1, 2, 2, 1, 1, 1, true},
	{"group2", `num_output: 4 kernel_size: 2 group: 2`, 1, 4, 5, 5, 4, 2, 2, 0, 0, 1, 1, 1, 1, 2, true},
	{"dilation2", `num_output: 2 kernel_size: 3 dilation: 2 pad: 1`, 1, 2, 7, 7, 2, 3, 3, 1, 1, 1, 1, 2, 2, 1, true},
	{"1x1", `num_output: 5 kernel_size: 1`, 2, 3, 4, 3, 5, 1, 1, 0, 0, 1, 1, 1, 1, 1, true},
	{"1x1 group", `num_output: 4 kernel_size: 1 group: 2`, 2, 4, 3, 3, 4, 1, 1, 0, 0, 1, 1, 1, 1, 2, true},
	{"h/w fields no bias", `num_output: 3 kernel_h: 3 kernel_w: 2 pad_h: 1 pad_w: 0 stride_h: 2 stride_w: 1 bias_term: false`,
		2, 2, 6, 5, 3, 3, 2, 1, 0, 2, 1, 1, 1, 1, false},
	{"repeated forms", `num_output: 2 kernel_size: 2 kernel_size: 3 pad: 0 pad: 1 stride: 1 stride: 2 dilation: 2 dilation: 1`,
		1, 3, 6, 7, 2, 2, 3, 0, 1, 1, 2, 2, 1, 1, true},
	{"stride larger than kernel", `num_output: 2 kernel_size: 2 stride: 3`, 1, 2, 8, 8, 2, 2, 2, 0, 0, 3, 3, 1, 1, 1, true},
}

// naiveConv is the textbook definition of Caffe's convolution, a direct
// loop with no im2col, used as the reference.
func naiveConv(c convCase, x, wt, bias []float32) ([]float32, int, int) {
	oh := (c.h+2*c.ph-(c.dh*(c.kh-1)+1))/c.sh + 1
	ow := (c.w+2*c.pw-(c.dw*(c.kw-1)+1))/c.sw + 1
	cg, mg := c.c/c.group, c.m/c.group
	out := make([]float32, c.n*c.m*oh*ow)
	for n := 0; n < c.n; n++ {
		for o := 0; o < c.m; o++ {
			g := o / mg
			for y := 0; y < oh; y++ {
				for xo := 0; xo < ow; xo++ {
					var s float64
					for ci := 0; ci < cg; ci++ {
						ch := g*cg + ci
						for ky := 0; ky < c.kh; ky++ {
							for kx := 0; kx < c.kw; kx++ {
								iy := y*c.sh - c.ph + ky*c.dh
								ix := xo*c.sw - c.pw + kx*c.dw
								if iy < 0 || iy >= c.h || ix < 0 || ix >= c.w {
									continue
								}
								s += float64(x[((n*c.c+ch)*c.h+iy)*c.w+ix]) * float64(wt[((o*cg+ci)*c.kh+ky)*c.kw+kx])
							}
						}
					}
					if bias != nil {
						s += float64(bias[o])
					}
					out[((n*c.m+o)*oh+y)*ow+xo] = float32(s)
				}
			}
		}
	}
	return out, oh, ow
}

func convLayerText(name, param string) string {
	return fmt.Sprintf(`name: %q type: "Convolution" convolution_param { %s weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "gaussian" std: 0.5 } }`, name, param)
}

func TestConvolutionForwardMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	for _, c := range convCases {
		t.Run(c.name, func(t *testing.T) {
			l := buildLayer(t, convLayerText("conv", c.param))
			bottom := randBlob(rng, "x", c.n, c.c, c.h, c.w)
			top := &Blob{Name: "y"}
			if err := l.Setup([]*Blob{bottom}, []*Blob{top}); err != nil {
				t.Fatal(err)
			}
			ps := l.Params()
			wantParams := 1
			if c.bias {
				wantParams = 2
			}
			if len(ps) != wantParams {
				t.Fatalf("%d params, want %d", len(ps), wantParams)
			}
			if ws := []int{c.m, c.c / c.group, c.kh, c.kw}; !ps[0].ShapeEquals(ws) {
				t.Fatalf("weight shape %v, want %v", ps[0].Shape(), ws)
			}
			var bias []float32
			if c.bias {
				if !ps[1].ShapeEquals([]int{c.m}) {
					t.Fatalf("bias shape %v", ps[1].Shape())
				}
				bias = ps[1].Data
			}
			if err := l.Forward([]*Blob{bottom}, []*Blob{top}); err != nil {
				t.Fatal(err)
			}
			want, oh, ow := naiveConv(c, bottom.Data, ps[0].Data, bias)
			if ts := []int{c.n, c.m, oh, ow}; !top.ShapeEquals(ts) {
				t.Fatalf("top shape %v, want %v", top.Shape(), ts)
			}
			for i := range want {
				if math.Abs(float64(top.Data[i]-want[i])) > 1e-4 {
					t.Fatalf("top[%d] = %g, naive %g", i, top.Data[i], want[i])
				}
			}
		})
	}
}

func TestConvolutionGradient(t *testing.T) {
	rng := rand.New(rand.NewSource(12))
	for _, c := range convCases {
		t.Run(c.name, func(t *testing.T) {
			l := buildLayer(t, convLayerText("conv", c.param))
			bottom := randBlob(rng, "x", c.n, c.c, c.h, c.w)
			top := &Blob{Name: "y"}
			if err := (GradCheck{Seed: 1}).Check(l, []*Blob{bottom}, []*Blob{top}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestConvolutionTwoBottomsShareWeights(t *testing.T) {
	rng := rand.New(rand.NewSource(13))
	l := buildLayer(t, convLayerText("conv", `num_output: 2 kernel_size: 3 pad: 1`))
	b0, b1 := randBlob(rng, "a", 1, 2, 4, 4), randBlob(rng, "b", 1, 2, 4, 4)
	if err := (GradCheck{Seed: 2}).Check(l, []*Blob{b0, b1}, []*Blob{{Name: "ta"}, {Name: "tb"}}); err != nil {
		t.Fatal(err)
	}
}

func TestConvolutionReshapeToSmallerBatch(t *testing.T) {
	rng := rand.New(rand.NewSource(14))
	c := convCases[1]
	l := buildLayer(t, convLayerText("conv", c.param))
	bottom := randBlob(rng, "x", c.n, c.c, c.h, c.w)
	top := &Blob{}
	if err := l.Setup([]*Blob{bottom}, []*Blob{top}); err != nil {
		t.Fatal(err)
	}
	bottom.Reshape(1, c.c, c.h+2, c.w)
	FillGaussian(rng, 1, bottom.Data)
	if err := l.Reshape([]*Blob{bottom}, []*Blob{top}); err != nil {
		t.Fatal(err)
	}
	if err := l.Forward([]*Blob{bottom}, []*Blob{top}); err != nil {
		t.Fatal(err)
	}
	c.n, c.h = 1, c.h+2
	want, _, _ := naiveConv(c, bottom.Data, l.Params()[0].Data, l.Params()[1].Data)
	if top.Count() != len(want) {
		t.Fatalf("top count %d, want %d", top.Count(), len(want))
	}
	for i := range want {
		if math.Abs(float64(top.Data[i]-want[i])) > 1e-4 {
			t.Fatalf("top[%d] = %g, naive %g", i, top.Data[i], want[i])
		}
	}
}

func TestConvolutionLoadsLayerBlobs(t *testing.T) {
	text := `name: "c1" type: "Convolution" convolution_param { num_output: 1 kernel_size: 1 }
		blobs { shape { dim: 1 dim: 2 dim: 1 dim: 1 } data: 2 data: -1 }
		blobs { shape { dim: 1 } data: 0.5 }`
	l := buildLayer(t, text)
	bottom := NewBlob(1, 2, 1, 1)
	bottom.Data[0], bottom.Data[1] = 3, 4
	top := &Blob{}
	if err := l.Setup([]*Blob{bottom}, []*Blob{top}); err != nil {
		t.Fatal(err)
	}
	if err := l.Forward([]*Blob{bottom}, []*Blob{top}); err != nil {
		t.Fatal(err)
	}
	if top.Data[0] != 2*3-4+0.5 {
		t.Errorf("got %g, want 2.5", top.Data[0])
	}
	bad := buildLayer(t, `name: "c2" type: "Convolution" convolution_param { num_output: 1 kernel_size: 2 bias_term: false }
		blobs { shape { dim: 1 dim: 2 dim: 1 dim: 1 } data: 2 data: -1 }`)
	wantErr(t, bad.Setup([]*Blob{NewBlob(1, 2, 3, 3)}, []*Blob{{}}), `"c2"`, "different sizes")
}

func TestConvolutionErrors(t *testing.T) {
	cases := []struct {
		param string
		shape []int
		frag  string
	}{
		{`num_output: 0 kernel_size: 3`, []int{1, 1, 5, 5}, "num_output"},
		{`kernel_size: 3`, []int{1, 1, 5, 5}, "num_output"},
		{`num_output: 2 kernel_size: 7`, []int{1, 1, 5, 5}, "larger than the padded input"},
		{`num_output: 2 kernel_size: 3 dilation: 3`, []int{1, 1, 6, 6}, "larger than the padded input"},
		{`num_output: 2`, []int{1, 1, 5, 5}, "kernel_size"},
		{`num_output: 2 kernel_size: 0`, []int{1, 1, 5, 5}, "nonzero"},
		{`num_output: 2 kernel_size: 3 kernel_size: 3 kernel_size: 3`, []int{1, 1, 5, 5}, "specified 3 times"},
		{`num_output: 2 kernel_size: 3 kernel_h: 3 kernel_w: 3`, []int{1, 1, 5, 5}, "not both"},
		{`num_output: 2 kernel_h: 3`, []int{1, 1, 5, 5}, "both kernel_h and kernel_w"},
		{`num_output: 2 kernel_size: 3 stride: 0`, []int{1, 1, 5, 5}, "stride"},
		{`num_output: 2 kernel_size: 1 group: 2`, []int{1, 3, 5, 5}, "multiple of group"},
		{`num_output: 3 kernel_size: 1 group: 2`, []int{1, 2, 5, 5}, "multiple of group"},
		{`num_output: 2 kernel_size: 1`, []int{1, 2, 5}, "spatial axes"},
		{`num_output: 2 kernel_size: 1 axis: 4`, []int{1, 2, 5, 5}, "axis"},
		{`num_output: 2 kernel_size: 1 weight_filler { type: "bogus" }`, []int{1, 2, 5, 5}, "bogus"},
	}
	for _, c := range cases {
		l := buildLayer(t, `name: "conv_bad" type: "Convolution" convolution_param { `+c.param+` }`)
		wantErr(t, l.Setup([]*Blob{NewBlob(c.shape...)}, []*Blob{{}}), `"conv_bad"`, c.frag)
	}
	// No convolution_param at all.
	l0 := buildLayer(t, `name: "conv_none" type: "Convolution"`)
	wantErr(t, l0.Setup([]*Blob{NewBlob(1, 1, 4, 4)}, []*Blob{{}}), `"conv_none"`, "kernel_size")
	// A later Reshape to a different channel count is refused.
	l := buildLayer(t, `name: "conv_re" type: "Convolution" convolution_param { num_output: 2 kernel_size: 1 }`)
	b := NewBlob(1, 2, 3, 3)
	if err := l.Setup([]*Blob{b}, []*Blob{{}}); err != nil {
		t.Fatal(err)
	}
	b.Reshape(1, 3, 3, 3)
	wantErr(t, l.Reshape([]*Blob{b}, []*Blob{{}}), `"conv_re"`, "channels")
}
