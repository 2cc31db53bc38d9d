package layers

import (
	"errors"

	"github.com/cos-project/cos/prototxt/caffepb"
)

// Sample is one decoded record of a data source, Caffe's Datum in a form
// that can be reused without allocating: a source's Next overwrites the
// slices in place.
type Sample struct {
	Key                     []byte
	Channels, Height, Width int
	// Data holds uint8 pixels (C×H×W) when the record stores bytes, or the
	// encoded image (PNG/JPEG) when Encoded is set.
	Data []byte
	// FloatData holds the values when the record stores floats instead.
	FloatData []float32
	Label     float32
	Encoded   bool
}

// ErrEndOfData is returned by Source.Next after the last record of a shard.
var ErrEndOfData = errors.New("end of data")

// Source is a stream of samples, typically one executor's shard of an LMDB.
type Source interface {
	// Next fills s with the next record, or returns ErrEndOfData at the end
	// of the shard.
	Next(s *Sample) error
	// Rewind restarts from the first record of the shard (a new epoch).
	Rewind() error
	// Len is the number of records in the shard.
	Len() int
	// Name says where the records come from, for error messages.
	Name() string
	Close() error
}

// SourceOpener opens the source named by a data layer's parameters.
type SourceOpener func(layer *caffepb.LayerParameter, phase caffepb.Phase) (Source, error)
