package lmdb

import (
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/cos-project/cos/layers"
)

// Datum field numbers, from caffe.proto.
const (
	fieldChannels  = 1
	fieldHeight    = 2
	fieldWidth     = 3
	fieldData      = 4
	fieldLabel     = 5
	fieldFloatData = 6
	fieldEncoded   = 7
)

// DecodeDatum parses a serialized caffe.Datum into s, reusing s.Data and
// s.FloatData so that a warmed-up reader allocates nothing. s.Key is left
// alone (the key is not part of the record). The result equals what
// proto.Unmarshal into a caffepb.Datum gives: the last value of a scalar field
// wins, float_data accepts packed and unpacked encodings, unknown fields are
// skipped, and malformed input is an error (never a panic).
//
// The bytes of raw are copied, so raw may point into an LMDB transaction.
func DecodeDatum(raw []byte, s *layers.Sample) error {
	s.Channels, s.Height, s.Width = 0, 0, 0
	s.Data = s.Data[:0]
	s.FloatData = s.FloatData[:0]
	s.Label = 0
	s.Encoded = false
	for len(raw) > 0 {
		num, typ, n := protowire.ConsumeTag(raw)
		if n < 0 {
			return datumError(protowire.ParseError(n))
		}
		raw = raw[n:]
		switch {
		case typ == protowire.VarintType && (num == fieldChannels || num == fieldHeight ||
			num == fieldWidth || num == fieldLabel || num == fieldEncoded):
			v, n := protowire.ConsumeVarint(raw)
			if n < 0 {
				return datumError(protowire.ParseError(n))
			}
			raw = raw[n:]
			switch num {
			case fieldChannels:
				s.Channels = int(int32(v))
			case fieldHeight:
				s.Height = int(int32(v))
			case fieldWidth:
				s.Width = int(int32(v))
			case fieldLabel:
				s.Label = float32(int32(v))
			case fieldEncoded:
				s.Encoded = v != 0
			}
		case typ == protowire.BytesType && num == fieldData:
			v, n := protowire.ConsumeBytes(raw)
			if n < 0 {
				return datumError(protowire.ParseError(n))
			}
			raw = raw[n:]
			// A repeated occurrence of a singular bytes field replaces it.
			s.Data = append(s.Data[:0], v...)
		case typ == protowire.Fixed32Type && num == fieldFloatData:
			v, n := protowire.ConsumeFixed32(raw)
			if n < 0 {
				return datumError(protowire.ParseError(n))
			}
			raw = raw[n:]
			s.FloatData = append(s.FloatData, math.Float32frombits(v))
		case typ == protowire.BytesType && num == fieldFloatData:
			v, n := protowire.ConsumeBytes(raw)
			if n < 0 {
				return datumError(protowire.ParseError(n))
			}
			raw = raw[n:]
			if len(v)%4 != 0 {
				return datumError(errors.New("packed float_data length is not a multiple of 4"))
			}
			s.FloatData = growFloats(s.FloatData, len(v)/4)
			for len(v) > 0 {
				f, _ := protowire.ConsumeFixed32(v)
				s.FloatData = append(s.FloatData, math.Float32frombits(f))
				v = v[4:]
			}
		default:
			// Unknown field, or a known one with an unexpected wire type, which
			// the protobuf runtime also keeps as unknown.
			n := protowire.ConsumeFieldValue(num, typ, raw)
			if n < 0 {
				return datumError(protowire.ParseError(n))
			}
			raw = raw[n:]
		}
	}
	return nil
}

// growFloats makes room for n more values without changing the length.
func growFloats(f []float32, n int) []float32 {
	if cap(f)-len(f) >= n {
		return f
	}
	g := make([]float32, len(f), len(f)+n)
	copy(g, f)
	return g
}

func datumError(err error) error {
	return fmt.Errorf("malformed Datum record: %w", err)
}
