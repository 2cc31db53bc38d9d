//go:build linux

package solver

import (
	"math"
	"math/rand"
	"os"
	"syscall"
	"testing"
	"unsafe"
)

// guardedFloats maps a page of floats between two inaccessible pages:
// any access before or after it faults.
func guardedFloats(t *testing.T) []float32 {
	ps := os.Getpagesize()
	b, err := syscall.Mmap(-1, 0, 3*ps, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	t.Cleanup(func() { syscall.Munmap(b) })
	if err := syscall.Mprotect(b[:ps], syscall.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	if err := syscall.Mprotect(b[2*ps:], syscall.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[ps])), ps/4)
}

// The kernel must not read a float before or after its slices (its
// masked head and tail loads suppress the faults of the lanes they
// skip): slices that start at a page's start or end at its end, next to
// a page that faults on any access, at every head and tail length.
func TestMomentumVecStaysInside(t *testing.T) {
	if !updateAVX512 {
		t.Skip("no AVX-512 update kernel on this CPU")
	}
	pages := [3][]float32{guardedFloats(t), guardedFloats(t), guardedFloats(t)}
	pn := len(pages[0])
	r := rand.New(rand.NewSource(3))
	var lens []int
	for n := 1; n <= 40; n++ {
		lens = append(lens, n)
	}
	lens = append(lens, pn-17, pn-1, pn)
	for _, m := range []Method{SGD, Nesterov} {
		for _, reg := range []regKind{regNone, regL2} {
			u := updateParams{method: m, momentum: 0.9, clipScale: 0.7, accumScale: 0.25,
				reg: reg, localDecay: 0.0005, localRate: 0.01}
			for _, n := range lens {
				for _, atEnd := range [][3]bool{{false, false, false}, {true, true, true}, {true, false, true}, {false, true, false}} {
					var s [3][]float32
					for k := range s {
						lo := 0
						if atEnd[k] {
							lo = pn - n
						}
						s[k] = pages[k][lo : lo+n]
						for i := range s[k] {
							s[k][i] = float32(r.NormFloat64())
						}
					}
					ref := [3][]float32{append([]float32(nil), s[0]...), append([]float32(nil), s[1]...), append([]float32(nil), s[2]...)}
					applyUpdateScalar(&u, ref[0], ref[1], ref[2], nil)
					applyMomentumVec(&u, s[0], s[1], s[2])
					for k := range s {
						for i := range s[k] {
							if math.Float32bits(s[k][i]) != math.Float32bits(ref[k][i]) {
								t.Fatalf("%s reg%d n=%d: array %d element %d: %g, scalar %g", m, reg, n, k, i, s[k][i], ref[k][i])
							}
						}
					}
				}
			}
		}
	}
}
