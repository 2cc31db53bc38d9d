package distri

import (
	"crypto/sha256"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/prototxt/caffepb"
)

// DefinitionHash is the sha256 of the deterministic binary encoding of the
// solver and the net. Executors whose hashes differ would train different
// models, so rank 0 refuses them at the rendezvous.
//
// The solver's net file fields (net, train_net, test_net) are left out:
// they are paths, which may legitimately differ between hosts, and the net
// they name is hashed itself through np.
func DefinitionHash(sp *caffepb.SolverParameter, np *caffepb.NetParameter) ([]byte, error) {
	opts := proto.MarshalOptions{Deterministic: true}
	h := sha256.New()
	if sp != nil {
		s := proto.Clone(sp).(*caffepb.SolverParameter)
		s.Net = nil
		s.TrainNet = nil
		s.TestNet = nil
		b, err := opts.Marshal(s)
		if err != nil {
			return nil, fmt.Errorf("distri: encoding the solver definition: %w", err)
		}
		fmt.Fprintf(h, "solver %d\n", len(b))
		h.Write(b)
	}
	if np != nil {
		b, err := opts.Marshal(np)
		if err != nil {
			return nil, fmt.Errorf("distri: encoding the net definition: %w", err)
		}
		fmt.Fprintf(h, "net %d\n", len(b))
		h.Write(b)
	}
	return h.Sum(nil), nil
}
