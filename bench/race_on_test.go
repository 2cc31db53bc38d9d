//go:build race

package bench

// raceEnabled: the race detector's runtime allocates on synchronisation,
// so allocation counts are only checked without it.
const raceEnabled = true
