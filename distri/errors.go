package distri

import "fmt"

// PeerError says which executor stopped the job and why: it was lost (died,
// hung, or its connection broke) or it reported a failure of its own.
type PeerError struct {
	Rank int
	Host string
	// Lost is true when the executor disappeared (as opposed to reporting
	// an error of its own).
	Lost   bool
	Reason string
}

func (e *PeerError) Error() string {
	host := e.Host
	if host == "" {
		host = "unknown host"
	}
	if e.Lost {
		return fmt.Sprintf("lost executor rank %d on host %s: %s", e.Rank, host, e.Reason)
	}
	return fmt.Sprintf("executor rank %d on host %s failed: %s", e.Rank, host, e.Reason)
}
