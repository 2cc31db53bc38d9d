package lmdb

import (
	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/prototxt/caffepb"
)

// caffepbDatum is a terse way to build raw uint8 Datums in tests.
type caffepbDatum struct {
	c, h, w int
	data    []byte
	label   int
}

func (d *caffepbDatum) proto() *caffepb.Datum {
	return &caffepb.Datum{Channels: proto.Int32(int32(d.c)), Height: proto.Int32(int32(d.h)), Width: proto.Int32(int32(d.w)),
		Data: d.data, Label: proto.Int32(int32(d.label))}
}
