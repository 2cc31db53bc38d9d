//go:build amd64 && !purego

package solver

import "golang.org/x/sys/cpu"

// updateAVX512 says whether momentumUpdateAVX512 can run.
var updateAVX512 = cpu.X86.HasAVX512F

// momentumUpdateAVX512 is applyUpdateScalar's SGD and Nesterov loops
// without weight decay or with L2, 16 lanes at a time, with the same bits
// (update_amd64.s). mode is the momentumMode bits; data, diff and h1 hold
// n floats each and must not overlap.
//
//go:noescape
func momentumUpdateAVX512(data, diff, h1 *float32, n, mode int, cs, as, dec, lr, mom, onePlus, negMom float32)
