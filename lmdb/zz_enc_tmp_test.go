package lmdb

import (
	"encoding/hex"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"
)

func TestZZEnc(t *testing.T) {
	d := (&caffepbDatum{c: 1, h: 2, w: 2, data: []byte{1, 2, 3, 4}, label: 7}).proto()
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(d)
	fmt.Println(hex.EncodeToString(b))
}
