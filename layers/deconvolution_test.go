package layers

import (
	"fmt"
	"math/rand"
	"testing"
)

type deconvCase struct {
	n, c, h, w       int
	out, group       int
	k, s, p, d       int
	bias             bool
	wantOutH, wantOW int
}

// naiveDeconv scatters every input value through the kernel into the
// output: the definition of a transposed convolution.
func naiveDeconv(c deconvCase, x, wt, bias []float32) []float32 {
	oh, ow := c.wantOutH, c.wantOW
	y := make([]float32, c.n*c.out*oh*ow)
	cg, og := c.c/c.group, c.out/c.group
	for n := 0; n < c.n; n++ {
		for ch := 0; ch < c.c; ch++ {
			g := ch / cg
			for oo := 0; oo < og; oo++ {
				o := g*og + oo
				for iy := 0; iy < c.h; iy++ {
					for ix := 0; ix < c.w; ix++ {
						v := x[((n*c.c+ch)*c.h+iy)*c.w+ix]
						for ky := 0; ky < c.k; ky++ {
							for kx := 0; kx < c.k; kx++ {
								yy, xx := iy*c.s-c.p+ky*c.d, ix*c.s-c.p+kx*c.d
								if yy < 0 || yy >= oh || xx < 0 || xx >= ow {
									continue
								}
								y[((n*c.out+o)*oh+yy)*ow+xx] += v * wt[((ch*og+oo)*c.k+ky)*c.k+kx]
							}
						}
					}
				}
			}
		}
	}
	if c.bias {
		for n := 0; n < c.n; n++ {
			for o := 0; o < c.out; o++ {
				for i := 0; i < oh*ow; i++ {
					y[(n*c.out+o)*oh*ow+i] += bias[o]
				}
			}
		}
	}
	return y
}

func (c deconvCase) text() string {
	return fmt.Sprintf(`name: "up" type: "Deconvolution" convolution_param { num_output: %d group: %d kernel_size: %d stride: %d pad: %d dilation: %d bias_term: %t
		weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "gaussian" } }`, c.out, c.group, c.k, c.s, c.p, c.d, c.bias)
}

var deconvCases = []deconvCase{
	// out = s*(in-1) + d*(k-1)+1 - 2p
	{n: 2, c: 2, h: 3, w: 3, out: 3, group: 1, k: 3, s: 1, p: 0, d: 1, bias: true, wantOutH: 5, wantOW: 5},
	{n: 1, c: 2, h: 3, w: 2, out: 2, group: 1, k: 4, s: 2, p: 1, d: 1, bias: true, wantOutH: 6, wantOW: 4},
	{n: 2, c: 4, h: 2, w: 3, out: 6, group: 2, k: 3, s: 2, p: 1, d: 1, bias: false, wantOutH: 3, wantOW: 5},
	{n: 1, c: 2, h: 3, w: 3, out: 2, group: 2, k: 2, s: 1, p: 0, d: 2, bias: true, wantOutH: 5, wantOW: 5},
	{n: 2, c: 3, h: 2, w: 2, out: 4, group: 1, k: 1, s: 1, p: 0, d: 1, bias: true, wantOutH: 2, wantOW: 2},
}

func TestDeconvolutionForwardMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewSource(19))
	for _, c := range deconvCases {
		t.Run(c.text(), func(t *testing.T) {
			l := buildLayer(t, c.text())
			x, top := randBlob(rng, "x", c.n, c.c, c.h, c.w), &Blob{}
			forward(t, l, []*Blob{x}, []*Blob{top})
			if !top.ShapeEquals([]int{c.n, c.out, c.wantOutH, c.wantOW}) {
				t.Fatalf("top shape %v, want [%d %d %d %d]", top.Shape(), c.n, c.out, c.wantOutH, c.wantOW)
			}
			w := l.Params()[0]
			if !w.ShapeEquals([]int{c.c, c.out / c.group, c.k, c.k}) {
				t.Fatalf("weight shape %v, want Caffe's [%d %d %d %d]", w.Shape(), c.c, c.out/c.group, c.k, c.k)
			}
			var bias []float32
			if c.bias {
				bias = l.Params()[1].Data
			}
			near(t, "deconv", top.Data, naiveDeconv(c, x.Data, w.Data, bias), 1e-5)
		})
	}
}

func TestDeconvolutionGradient(t *testing.T) {
	rng := rand.New(rand.NewSource(20))
	for _, c := range deconvCases[1:] {
		t.Run(c.text(), func(t *testing.T) {
			l := buildLayer(t, c.text())
			x := randBlob(rng, "x", c.n, c.c, c.h, c.w)
			if err := (GradCheck{Seed: 11}).Check(l, []*Blob{x}, []*Blob{{}}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDeconvolutionTwoBottomsShareWeights(t *testing.T) {
	rng := rand.New(rand.NewSource(21))
	c := deconvCases[1]
	l := buildLayer(t, c.text())
	a, b := randBlob(rng, "a", c.n, c.c, c.h, c.w), randBlob(rng, "b", c.n, c.c, c.h, c.w)
	ta, tb := &Blob{}, &Blob{}
	forward(t, l, []*Blob{a, b}, []*Blob{ta, tb})
	near(t, "bottom 0", ta.Data, naiveDeconv(c, a.Data, l.Params()[0].Data, l.Params()[1].Data), 1e-5)
	near(t, "bottom 1", tb.Data, naiveDeconv(c, b.Data, l.Params()[0].Data, l.Params()[1].Data), 1e-5)
}

func TestDeconvolutionErrors(t *testing.T) {
	x := NewBlob(1, 3, 4, 4)
	for _, c := range []struct{ param, fragment string }{
		{`num_output: 4`, "kernel_size"},
		{`num_output: 0 kernel_size: 3`, "num_output"},
		{`num_output: 4 kernel_size: 3 group: 2`, "multiple of group"},
		{`num_output: 3 kernel_size: 3 group: 3 stride: 0`, "stride"},
		{`num_output: 4 kernel_size: 1 kernel_h: 2 kernel_w: 2`, "not both"},
		{`num_output: 4 kernel_size: 1 pad: 3`, "not positive"},
		{`num_output: 4 kernel_size: 1 kernel_size: 2 kernel_size: 3`, "once per spatial dimension"},
	} {
		wantErr(t, buildErr(t, `name: "dc" type: "Deconvolution" convolution_param { `+c.param+` }`, []*Blob{x}, []*Blob{{}}), `"dc"`, c.fragment)
	}
	wantErr(t, buildErr(t, `name: "dc" type: "Deconvolution" convolution_param { num_output: 2 kernel_size: 2 }`, []*Blob{NewBlob(2, 3)}, []*Blob{{}}), `"dc"`, "spatial")
}
