//go:build !race

package distri

const raceEnabled = false
