//go:build race

package blas

// raceEnabled trims the kernel-equality matrix under -race, where the
// instrumented portable kernel is slow; the parallel paths stay covered.
const raceEnabled = true
