// Package distripb holds the generated Go code for distri.proto, the wire
// protocol between the executors of a cos job (rendezvous, heartbeats and the
// all-reduce ring). Regenerate with `go generate ./distri/`.
package distripb
