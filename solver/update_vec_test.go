package solver

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
	"unsafe"
)

// vecTestValue draws the kernel's inputs: mostly ordinary numbers, with
// NaNs of several signs and payloads, infinities,
// denormals, signed zeros and magnitudes whose products overflow.
func vecTestValue(r *rand.Rand) float32 {
	switch r.Intn(24) {
	case 0:
		return math.Float32frombits(0x7fc00000) // quiet NaN
	case 1:
		return math.Float32frombits(0xffc00000 | r.Uint32()&0x3fffff) // negative quiet NaN with a payload
	case 2:
		return math.Float32frombits(0x7f800000 | (1 + r.Uint32()%0x3fffff)) // signalling NaN
	case 3:
		return float32(math.Inf(1))
	case 4:
		return float32(math.Inf(-1))
	case 5:
		return math.Float32frombits(r.Uint32() & 0x807fffff) // denormal or ±0
	case 6:
		return 0
	case 7:
		return float32(math.Copysign(0, -1))
	case 8:
		return float32(r.NormFloat64() * 1e37)
	case 9:
		return float32(r.NormFloat64() * 1e-36) // products fall to denormals
	}
	return float32(r.NormFloat64())
}

// vecTestHyper are the step's rates: Caffe-like ones, large ones so that
// rate*g and momentum*h overflow and their sums meet ±Inf, and NaNs.
var vecTestHyper = []struct{ lr, mom, dec float32 }{
	{0.01, 0.9, 0.0005},
	{3e4, 0.99, 2.5},
	// NaN rates: every product and sum they reach must be a NaN.
	{1, math.Float32frombits(0x7fd11111), math.Float32frombits(0xffe22222)},
}

// vecTestLens are the parameter lengths: around the vector width, the
// 4-vector block, and one more than a parallel update chunk.
var vecTestLens = []int{0, 1, 7, 15, 16, 17, 31, 32, 33, 100, 1000, 16384 + 5}

// Where two NaNs meet, the result's NaN bits are those of whichever
// operand the instruction takes first, and for + and * the Go compiler
// picks that by register allocation, which differs between builds (-race,
// the float32 conversions that keep products unfused). NaN payloads carry
// nothing a user relies on, so a NaN only has to meet a NaN; every other
// value, ±0 and ±Inf included, must match bit for bit.

// vecGuard marks the floats around the kernel's slices; a NaN payload no
// input or result has.
const vecGuard = 0x7fa5a5a5

// The AVX-512 SGD/Nesterov update must give applyUpdateScalar's bits for
// every output, at every length and every alignment of the three slices,
// and write nothing outside them.
func TestMomentumVecMatchesScalar(t *testing.T) {
	if !updateAVX512 {
		t.Skip("no AVX-512 update kernel on this CPU")
	}
	for _, m := range []Method{SGD, Nesterov} {
		for _, reg := range []regKind{regNone, regL2} {
			for _, sc := range [][2]float32{{1, 1}, {0.7, 0.25}} {
				for hi, hp := range vecTestHyper {
					for _, n := range vecTestLens {
						name := fmt.Sprintf("%s/reg%d/cs%g_as%g/hyper%d/n%d", m, reg, sc[0], sc[1], hi, n)
						u := updateParams{method: m, momentum: hp.mom, clipScale: sc[0], accumScale: sc[1],
							reg: reg, localDecay: hp.dec, localRate: hp.lr}
						t.Run(name, func(t *testing.T) { checkMomentumVec(t, &u, n) })
					}
				}
			}
		}
	}
}

func checkMomentumVec(t *testing.T, u *updateParams, n int) {
	r := rand.New(rand.NewSource(int64(n)*131 + int64(u.method)*7 + int64(u.reg)))
	const pad = 20 // more than a vector, so a stray full-vector store lands in it
	// Offsets (in floats) of data, diff and h1 past a line boundary: the
	// masked head (up to data's next line) takes every length 0-15 and
	// the other two slices are misaligned against data.
	var offs [][3]int
	for o := range 16 {
		offs = append(offs, [3]int{o, (o * 5) % 16, (o*11 + 3) % 16})
	}
	for _, off := range offs {
		var bufs [3][]float32
		for k := range bufs {
			bufs[k] = lineAlignedFloats(n+2*pad, pad)
			for i := range bufs[k] {
				bufs[k][i] = math.Float32frombits(vecGuard)
			}
		}
		sl := func(k int) []float32 { return bufs[k][pad+off[k] : pad+off[k]+n] }
		data, diff, h1 := sl(0), sl(1), sl(2)
		for i := range n {
			data[i], diff[i], h1[i] = vecTestValue(r), vecTestValue(r), vecTestValue(r)
		}
		rdata := append([]float32(nil), data...)
		rdiff := append([]float32(nil), diff...)
		rh1 := append([]float32(nil), h1...)
		applyUpdateScalar(u, rdata, rdiff, rh1, nil)
		applyMomentumVec(u, data, diff, h1)
		for _, c := range []struct {
			what      string
			got, want []float32
		}{{"data", data, rdata}, {"diff", diff, rdiff}, {"h1", h1, rh1}} {
			for i := range c.want {
				if g, w := math.Float32bits(c.got[i]), math.Float32bits(c.want[i]); g != w && !(c.got[i] != c.got[i] && c.want[i] != c.want[i]) {
					t.Fatalf("offsets %v: %s[%d] = %#08x (%g), scalar %#08x (%g)", off, c.what, i, g, c.got[i], w, c.want[i])
				}
			}
		}
		for k, b := range bufs {
			for i, v := range b {
				in := i >= pad+off[k] && i < pad+off[k]+n
				if !in && math.Float32bits(v) != vecGuard {
					t.Fatalf("offsets %v: slice %d: float %d outside [%d, %d) overwritten with %#08x",
						off, k, i, pad+off[k], pad+off[k]+n, math.Float32bits(v))
				}
			}
		}
	}
}

// lineAlignedFloats returns n floats whose element at is 64-byte aligned.
func lineAlignedFloats(n, at int) []float32 {
	b := make([]float32, n+16)
	s := 0
	for uintptr(unsafe.Pointer(&b[s+at]))%64 != 0 {
		s++
	}
	return b[s : s+n]
}

// applyUpdate, whichever loop it picks for a method and regularization,
// must give applyUpdateScalar's bits for every method and regularization.
func TestApplyUpdateMatchesScalar(t *testing.T) {
	for m := SGD; m <= Adam; m++ {
		for _, reg := range []regKind{regNone, regL2, regL1} {
			u := updateParams{method: m, momentum: 0.9, momentum2: 0.999, delta: 1e-6, rmsDecay: 0.95,
				clipScale: 0.7, accumScale: 0.25, reg: reg, localDecay: 0.0005, localRate: 0.01, adamScale: 0.01}
			const n = 1000
			mk := func() [4][]float32 {
				r := rand.New(rand.NewSource(int64(m)*3 + int64(reg)))
				var s [4][]float32
				for k := range s {
					s[k] = make([]float32, n)
					for i := range s[k] {
						s[k][i] = float32(r.NormFloat64())
						if k >= 2 { // the adaptive methods' histories are >= 0
							s[k][i] *= s[k][i]
						}
					}
				}
				return s
			}
			a, b := mk(), mk()
			applyUpdate(&u, a[0], a[1], a[2], a[3])
			applyUpdateScalar(&u, b[0], b[1], b[2], b[3])
			for k := range a {
				for i := range a[k] {
					if math.Float32bits(a[k][i]) != math.Float32bits(b[k][i]) {
						t.Fatalf("%s reg%d: array %d element %d: %g, scalar %g", m, reg, k, i, a[k][i], b[k][i])
					}
				}
			}
		}
	}
}

// BenchmarkApplyUpdate is SGD with L2 decay over LeNet's 431,080
// parameters, the scalar loop against the kernel. Bytes are the 12 read
// and 12 written per element.
func BenchmarkApplyUpdate(b *testing.B) {
	const n = 431080
	for _, impl := range []string{"scalar", "vector"} {
		b.Run(impl, func(b *testing.B) {
			if impl == "vector" && !updateAVX512 {
				b.Skip("no AVX-512 update kernel on this CPU")
			}
			r := rand.New(rand.NewSource(1))
			data, diff, h1 := make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range data {
				data[i], diff[i], h1[i] = float32(r.NormFloat64()), float32(r.NormFloat64()), float32(r.NormFloat64())*0.01
			}
			// These rates keep h and data normal (no denormal slowdowns)
			// over millions of steps.
			u := updateParams{method: SGD, momentum: 0.9, clipScale: 1, accumScale: 1,
				reg: regL2, localDecay: 0.0005, localRate: 0.01}
			b.SetBytes(24 * n)
			b.ResetTimer()
			for b.Loop() {
				if impl == "vector" {
					applyMomentumVec(&u, data, diff, h1)
				} else {
					applyUpdateScalar(&u, data, diff, h1, nil)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/elem")
		})
	}
}
