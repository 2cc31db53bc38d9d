package layers

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// naiveMaxPool is Caffe's max pooling loop, written plainly: the first
// strictly greater element of each window (row-major) wins.
func naiveMaxPool(in []float32, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow int) ([]float32, []int32) {
	out := make([]float32, c*oh*ow)
	mask := make([]int32, c*oh*ow)
	for p := 0; p < c; p++ {
		for y := 0; y < oh; y++ {
			for x := 0; x < ow; x++ {
				hs, ws := y*sh-ph, x*sw-pw
				he, we := min(hs+kh, h), min(ws+kw, w)
				hs, ws = max(hs, 0), max(ws, 0)
				best, arg := float32(-math.MaxFloat32), int32(-1)
				for i := hs; i < he; i++ {
					for j := ws; j < we; j++ {
						if v := in[p*h*w+i*w+j]; v > best {
							best, arg = v, int32(i*w+j)
						}
					}
				}
				out[p*oh*ow+y*ow+x], mask[p*oh*ow+y*ow+x] = best, arg
			}
		}
	}
	return out, mask
}

// The specialised max pooling paths (2x2, 3x3, general; order keys
// instead of float compares) against the plain loop, on data with many
// ties (a few distinct values, negative ones, zeros) and on odd sizes that
// leave clipped windows at the edges.
func TestMaxPoolingMatchesNaive(t *testing.T) {
	defer func() { poolScalarOnly, poolByteMask, poolPack = false, true, true }()
	for _, m := range poolModes {
		poolScalarOnly, poolByteMask, poolPack = m.scalar, m.byteMask, m.pack
		t.Run(m.name, testMaxPoolingMatchesNaive)
	}
}

// poolModes are the max pooling paths: scalar, and the vector kernels
// with int32 indices, byte masks one output row per vector, and byte
// masks with narrow rows packed.
var poolModes = []struct {
	name                   string
	scalar, byteMask, pack bool
}{
	{"scalar", true, true, true},
	{"int32", false, false, false},
	{"byte", false, true, false},
	{"packed", false, true, true},
}

func testMaxPoolingMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	for _, c := range []struct{ kh, kw, sh, sw, ph, pw, h, w int }{
		{2, 2, 2, 2, 0, 0, 24, 24}, {2, 2, 2, 2, 0, 0, 7, 9}, {2, 2, 2, 2, 1, 1, 6, 5},
		{3, 3, 2, 2, 0, 0, 32, 32}, {3, 3, 2, 2, 0, 0, 9, 8}, {3, 3, 2, 2, 1, 1, 7, 7},
		{3, 2, 1, 2, 0, 0, 6, 7}, {4, 4, 3, 3, 2, 1, 11, 10}, {1, 1, 3, 3, 0, 0, 5, 5},
		{3, 3, 2, 2, 0, 0, 5, 70}, {3, 3, 2, 2, 0, 0, 7, 31}, {3, 3, 2, 2, 0, 0, 6, 33}, {3, 3, 2, 2, 0, 0, 7, 34}, {2, 2, 2, 2, 0, 0, 4, 70}, {2, 2, 2, 2, 0, 0, 8, 8},
		{2, 2, 2, 2, 0, 0, 6, 6}, {2, 2, 2, 2, 0, 0, 6, 10}, {2, 2, 2, 2, 0, 0, 10, 14}, {2, 2, 2, 2, 0, 0, 2, 16},
		{2, 2, 2, 2, 0, 0, 14, 2}, {2, 2, 2, 2, 0, 0, 4, 18},
	} {
		name := fmt.Sprintf("k%dx%d s%dx%d p%dx%d %dx%d", c.kh, c.kw, c.sh, c.sw, c.ph, c.pw, c.h, c.w)
		t.Run(name, func(t *testing.T) {
			text := fmt.Sprintf(`name: "p" type: "Pooling" pooling_param { pool: MAX kernel_h: %d kernel_w: %d stride_h: %d stride_w: %d pad_h: %d pad_w: %d }`,
				c.kh, c.kw, c.sh, c.sw, c.ph, c.pw)
			l := buildThreaded(t, text, 1)
			x := NewBlob(2, 3, c.h, c.w)
			top, mask := &Blob{}, &Blob{}
			if err := l.Setup([]*Blob{x}, []*Blob{top, mask}); err != nil {
				t.Fatal(err)
			}
			// Ties, then ramps rising to the bottom right (every window's
			// last element wins) and to the top left (its first does), so
			// each window position is the winner somewhere.
			vals := []float32{-2, -0.5, 0, 0, 1, 1, 3, -math.MaxFloat32, float32(math.Inf(-1))}
			for fill := 0; fill < 3; fill++ {
				poolFill(x.Data, c.h, c.w, fill, vals, rng)
				if err := l.Forward([]*Blob{x}, []*Blob{top, mask}); err != nil {
					t.Fatal(err)
				}
				oh, ow := top.Height(), top.Width()
				want, wantMask := naiveMaxPool(x.Data, 6, c.h, c.w, c.kh, c.kw, c.sh, c.sw, c.ph, c.pw, oh, ow)
				for i := range want {
					if top.Data[i] != want[i] || mask.Data[i] != float32(wantMask[i]) {
						t.Fatalf("fill %d output %d: got %g (index %g), want %g (index %d)", fill, i, top.Data[i], mask.Data[i], want[i], wantMask[i])
					}
				}
			}
		})
	}
}

// naiveAvePool is Caffe's average pooling, forward and backward, written
// plainly in Caffe's loop order (windows row-major, elements row-major),
// with the divisor counting padding but not the part past it.
func naiveAvePool(in, dOut []float32, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow int) (out, dIn []float32) {
	out = make([]float32, c*oh*ow)
	dIn = make([]float32, c*h*w)
	for p := 0; p < c; p++ {
		for y := 0; y < oh; y++ {
			for x := 0; x < ow; x++ {
				hs, ws := y*sh-ph, x*sw-pw
				he, we := min(hs+kh, h+ph), min(ws+kw, w+pw)
				size := float32((he - hs) * (we - ws))
				hs, ws = max(hs, 0), max(ws, 0)
				he, we = min(he, h), min(we, w)
				var s float32
				for i := hs; i < he; i++ {
					for j := ws; j < we; j++ {
						s += in[p*h*w+i*w+j]
					}
				}
				out[p*oh*ow+y*ow+x] = s / size
				g := dOut[p*oh*ow+y*ow+x] / size
				for i := hs; i < he; i++ {
					for j := ws; j < we; j++ {
						dIn[p*h*w+i*w+j] += g
					}
				}
			}
		}
	}
	return out, dIn
}

// The unrolled 3x3 average pooling (and the general one) against the
// plain loops, to the bit: same adds in the same order.
func TestAvePoolingMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewSource(10))
	for _, c := range []struct{ kh, kw, sh, sw, ph, pw, h, w int }{
		{3, 3, 2, 2, 0, 0, 16, 16}, {3, 3, 2, 2, 0, 0, 8, 8}, {3, 3, 2, 2, 1, 1, 9, 7},
		{3, 3, 1, 1, 0, 0, 6, 5}, {2, 2, 2, 2, 0, 0, 7, 9}, {3, 2, 2, 1, 1, 0, 7, 6},
	} {
		name := fmt.Sprintf("k%dx%d s%dx%d p%dx%d %dx%d", c.kh, c.kw, c.sh, c.sw, c.ph, c.pw, c.h, c.w)
		t.Run(name, func(t *testing.T) {
			text := fmt.Sprintf(`name: "p" type: "Pooling" pooling_param { pool: AVE kernel_h: %d kernel_w: %d stride_h: %d stride_w: %d pad_h: %d pad_w: %d }`,
				c.kh, c.kw, c.sh, c.sw, c.ph, c.pw)
			l := buildThreaded(t, text, 1)
			x := randBlob(rng, "x", 2, 3, c.h, c.w)
			top := &Blob{}
			if err := l.Setup([]*Blob{x}, []*Blob{top}); err != nil {
				t.Fatal(err)
			}
			if err := l.Forward([]*Blob{x}, []*Blob{top}); err != nil {
				t.Fatal(err)
			}
			FillGaussian(rng, 1, top.Diff)
			l.Backward([]*Blob{top}, []bool{true}, []*Blob{x})
			want, wantDiff := naiveAvePool(x.Data, top.Diff, 6, c.h, c.w, c.kh, c.kw, c.sh, c.sw, c.ph, c.pw, top.Height(), top.Width())
			for i := range want {
				if math.Float32bits(top.Data[i]) != math.Float32bits(want[i]) {
					t.Fatalf("output %d: got %g, want %g", i, top.Data[i], want[i])
				}
			}
			for i := range wantDiff {
				if math.Float32bits(x.Diff[i]) != math.Float32bits(wantDiff[i]) {
					t.Fatalf("bottom diff %d: got %g, want %g", i, x.Diff[i], wantDiff[i])
				}
			}
		})
	}
}

// The MAX backward pass of planes tiled by 2x2 windows (written directly
// by the vector kernel) against the clear-and-scatter loop, to the bit,
// with ties in the data and signed zeros in the gradient.
func TestMaxPoolingBackwardTiledMatchesScalar(t *testing.T) {
	rng := rand.New(rand.NewSource(16))
	defer func() { poolScalarOnly, poolByteMask, poolPack = false, true, true }()
	for _, hw := range [][2]int{{24, 24}, {8, 8}, {4, 32}, {2, 2}, {6, 34}, {6, 6}, {6, 10}, {10, 14}, {2, 16}, {14, 2}, {4, 18}} {
		for _, m := range poolModes[1:] {
			poolByteMask, poolPack = m.byteMask, m.pack
			testMaxPoolingBackwardTiled(t, rng, hw, m.name)
		}
	}
}

func testMaxPoolingBackwardTiled(t *testing.T, rng *rand.Rand, hw [2]int, mode string) {
	text := `name: "p" type: "Pooling" pooling_param { pool: MAX kernel_size: 2 stride: 2 }`
	x := NewBlob(3, 5, hw[0], hw[1])
	vals := []float32{-1, 0, 0, 2, 2, 5}
	for i := range x.Data {
		x.Data[i] = vals[rng.Intn(len(vals))]
	}
	var got [2][]float32
	for i, scalar := range []bool{true, false} {
		poolScalarOnly = scalar
		l := buildThreaded(t, text, 1)
		top := &Blob{}
		if err := l.Setup([]*Blob{x}, []*Blob{top}); err != nil {
			t.Fatal(err)
		}
		if err := l.Forward([]*Blob{x}, []*Blob{top}); err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewSource(17))
		for j := range top.Diff {
			top.Diff[j] = float32(r.NormFloat64())
			if j%7 == 0 {
				top.Diff[j] = float32(math.Copysign(0, -1))
			}
		}
		for j := range x.Diff {
			x.Diff[j] = float32(math.NaN()) // must be overwritten
		}
		l.Backward([]*Blob{top}, []bool{true}, []*Blob{x})
		got[i] = append([]float32(nil), x.Diff...)
	}
	if i, j, ok := sameBits(got[:1], got[1:]); !ok {
		t.Fatalf("%v %s: differs at %d,%d: %v vs scalar %v", hw, mode, i, j, got[1][j], got[0][j])
	}
}

// LeNet's pool1 and pool2 through each vector path, in one run.
func BenchmarkMaxPool2x2LeNet(b *testing.B) {
	rng := rand.New(rand.NewSource(30))
	defer func() { poolByteMask, poolPack = true, true }()
	for _, shape := range [][]int{{64, 20, 24, 24}, {64, 50, 8, 8}} {
		x := randBlob(rng, "x", shape...)
		for _, m := range poolModes[1:] {
			set := func() { poolByteMask, poolPack = m.byteMask, m.pack }
			set()
			l := buildThreaded(b, `name: "p" type: "Pooling" pooling_param { pool: MAX kernel_size: 2 stride: 2 }`, 0)
			top := []*Blob{{}}
			if err := l.Setup([]*Blob{x}, top); err != nil {
				b.Fatal(err)
			}
			FillGaussian(rng, 1, top[0].Diff)
			name := fmt.Sprintf("%dx%d/%s", shape[2], shape[3], m.name)
			b.Run(name+"/fwd", func(b *testing.B) {
				set()
				for i := 0; i < b.N; i++ {
					l.Forward([]*Blob{x}, top)
				}
			})
			b.Run(name+"/bwd", func(b *testing.B) {
				set()
				for i := 0; i < b.N; i++ {
					l.Backward(top, []bool{true}, []*Blob{x})
				}
			})
		}
	}
}

// The tiled 2x2 kernels split over threads by blocks of planes (which
// for the packed ones may end mid-group): the same bits on 1 to 3
// threads, forward (with the index top) and backward.
func TestMaxPoolingTiledThreads(t *testing.T) {
	rng := rand.New(rand.NewSource(31))
	text := `name: "p" type: "Pooling" pooling_param { pool: MAX kernel_size: 2 stride: 2 }`
	for _, shape := range [][]int{{16, 20, 24, 24}, {17, 50, 8, 8}, {9, 7, 10, 14}} {
		x := randBlob(rng, "x", shape...)
		want, wantB, _ := runLayerOnce(t, text, 1, []*Blob{x}, 12, 2)
		for _, procs := range []int{2, 3} {
			var got, gotB [][]float32
			withProcs(procs, func() { got, gotB, _ = runLayerOnce(t, text, procs, []*Blob{x}, 12, 2) })
			if i, j, ok := sameBits(want, got); !ok {
				t.Fatalf("%v %d threads: top %d differs at %d", shape, procs, i, j)
			}
			if i, j, ok := sameBits(wantB, gotB); !ok {
				t.Fatalf("%v %d threads: bottom diff %d differs at %d", shape, procs, i, j)
			}
		}
	}
}

// poolFill fills planes of h×w with pattern fill: 0 values drawn from
// vals (ties), 1 a ramp rising to the bottom right (every window's last
// element wins), 2 one rising to the top left (its first does), 3 only
// vals[7] and vals[8] (-FLT_MAX and -Inf: windows with no real maximum).
func poolFill(d []float32, h, w, fill int, vals []float32, rng *rand.Rand) {
	for i := range d {
		y, x := i/w%h, i%w
		switch fill {
		case 0:
			d[i] = vals[rng.Intn(len(vals))]
		case 1:
			d[i] = float32(y + 100*x)
		case 2:
			d[i] = -float32(y + 100*x)
		case 3:
			d[i] = vals[7+rng.Intn(2)]
		}
	}
}
