package distri

import (
	"fmt"
	"sync"

	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // the codec rawCodec delegates to
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	pb "github.com/cos-project/cos/distri/distripb"
)

// rawCodec is the gRPC codec of Ring streams (content subtype "cosraw"). It
// writes Chunk in protobuf's wire format, so the bytes are what the proto
// codec would send, but avoids two costs of the generic path on the
// hottest messages: the encoded chunk goes into a pooled buffer instead of a
// fresh allocation, and a received chunk's values are read in place from
// gRPC's buffer instead of being copied into a new byte slice. Every other
// message goes through the proto codec.
type rawCodec struct{ proto encoding.CodecV2 }

const rawCodecName = "cosraw"

// padField is the field number of the alignment padding (not in
// distri.proto: decoders skip it as an unknown field).
const padField = 15

func init() {
	encoding.RegisterCodecV2(rawCodec{proto: encoding.GetCodecV2("proto")})
}

func (rawCodec) Name() string { return rawCodecName }

func (c rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(*pb.Chunk)
	if !ok {
		return c.proto.Marshal(v)
	}
	head := protowire.SizeTag(1) + protowire.SizeVarint(m.Op) +
		protowire.SizeTag(2) + protowire.SizeVarint(uint64(m.Step)) +
		protowire.SizeTag(3) + protowire.SizeVarint(m.Offset) +
		protowire.SizeTag(4) + protowire.SizeVarint(uint64(len(m.Data)))
	// An unknown varint field (ignored by every protobuf decoder) pads the
	// header so that the values start 4-byte aligned in the receiver's
	// buffer, where they can be read as float32 in place.
	pad := [4]int{0, 3, 2, 5}[head%4]
	pool := chunkBuffers
	buf := pool.Get(head + pad + len(m.Data))
	b := (*buf)[:0]
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, m.Op)
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(m.Step))
	b = protowire.AppendTag(b, 3, protowire.VarintType)
	b = protowire.AppendVarint(b, m.Offset)
	if pad > 0 {
		b = protowire.AppendTag(b, padField, protowire.VarintType)
		b = protowire.AppendVarint(b, [6]uint64{0, 0, 1, 1 << 7, 0, 1 << 21}[pad])
	}
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	b = protowire.AppendBytes(b, m.Data)
	*buf = b
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

func (c rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*rawChunk)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(chunkBuffers)
	b := buf.ReadOnlyData()
	*m = rawChunk{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			buf.Free()
			return fmt.Errorf("distri: malformed ring chunk: %v", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == 4 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				buf.Free()
				return fmt.Errorf("distri: malformed ring chunk: %v", protowire.ParseError(n))
			}
			m.data = v
			b = b[n:]
		case typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				buf.Free()
				return fmt.Errorf("distri: malformed ring chunk: %v", protowire.ParseError(n))
			}
			switch num {
			case 1:
				m.op = v
			case 2:
				m.step = uint32(v)
			case 3:
				m.offset = v
			}
			b = b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				buf.Free()
				return fmt.Errorf("distri: malformed ring chunk: %v", protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	m.buf = buf
	return nil
}

// rawChunk is a received Chunk whose data still lives in gRPC's buffer;
// release returns the buffer once the values have been used.
type rawChunk struct {
	op     uint64
	step   uint32
	offset uint64
	data   []byte
	buf    mem.Buffer
}

func (m *rawChunk) release() {
	if m.buf != nil {
		m.buf.Free()
		m.buf = nil
	}
	m.data = nil
}

// chunkBuffers pools the byte buffers of ring chunks. Unlike gRPC's default
// pool it does not clear a buffer it hands out: every byte is overwritten
// (encoding) or copied over (receiving) before anyone reads it.
var chunkBuffers = &bufferPool{}

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get(n int) *[]byte {
	if v, ok := b.p.Get().(*[]byte); ok && cap(*v) >= n {
		*v = (*v)[:n]
		return v
	}
	buf := make([]byte, n, max(n, 4<<10))
	return &buf
}

func (b *bufferPool) Put(buf *[]byte) { b.p.Put(buf) }
