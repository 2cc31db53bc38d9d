package distri

import (
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	pb "github.com/cos-project/cos/distri/distripb"
)

// TestRawCodec: the ring codec's bytes are valid protobuf (the generated
// Chunk decodes them), its decoder reads them back, and the values land
// 4-byte aligned for every header length.
func TestRawCodec(t *testing.T) {
	c := rawCodec{}
	for _, op := range []uint64{0, 1, 200, 1 << 20, 1 << 40} {
		for _, off := range []uint64{0, 5, 300, 1 << 22} {
			for _, n := range []int{0, 4, 12, 4096} {
				in := &pb.Chunk{Op: op, Step: uint32(op % 7), Offset: off, Data: make([]byte, n)}
				for i := range in.Data {
					in.Data[i] = byte(i*7 + 1)
				}
				bs, err := c.Marshal(in)
				if err != nil {
					t.Fatal(err)
				}
				wire := bs.Materialize()
				var ref pb.Chunk
				// (The padding is an unknown field, which proto keeps aside.)
				if err := proto.Unmarshal(wire, &ref); err != nil || ref.Op != in.Op || ref.Step != in.Step ||
					ref.Offset != in.Offset || string(ref.Data) != string(in.Data) {
					t.Fatalf("op %d off %d n %d: protobuf decodes op %d step %d offset %d, %d bytes (%v)",
						op, off, n, ref.Op, ref.Step, ref.Offset, len(ref.Data), err)
				}
				var got rawChunk
				if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, &got); err != nil {
					t.Fatal(err)
				}
				if got.op != op || got.step != in.Step || got.offset != off || string(got.data) != string(in.Data) {
					t.Fatalf("round trip: got op %d step %d offset %d %d bytes", got.op, got.step, got.offset, len(got.data))
				}
				if n > 0 && (len(wire)-n)%4 != 0 {
					t.Fatalf("op %d off %d: values start at byte %d, not 4-byte aligned", op, off, len(wire)-n)
				}
				got.release()
				bs.Free()
			}
		}
	}
}
