package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cos-project/cos/prototxt"
)

func writeIDX(t *testing.T, path string, header []uint32, body []byte) {
	var buf bytes.Buffer
	binary.Write(&buf, binary.BigEndian, header)
	buf.Write(body)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	imgs, labs := filepath.Join(dir, "imgs"), filepath.Join(dir, "labs")
	writeIDX(t, imgs, []uint32{2051, 3, 2, 2}, []byte{0, 0, 0, 0, 3, 3, 3, 3, 6, 6, 6, 6})
	writeIDX(t, labs, []uint32{2049, 3}, []byte{1, 2, 3})
	db := filepath.Join(dir, "db")
	mean := filepath.Join(dir, "mean.binaryproto")
	cases := []struct {
		args       []string
		code       int
		out, errIn string
	}{
		{nil, 1, "", "usage: cos-data"},
		{[]string{"-h"}, 0, "", "usage: cos-data"},
		{[]string{"frobnicate"}, 1, "", `unknown command "frobnicate"`},
		{[]string{"mnist", "-out", db}, 1, "", "give -in DIR, or both -images and -labels"},
		{[]string{"mnist", "-bogus"}, 1, "", "flag provided but not defined"},
		{[]string{"mnist", "-images", labs, "-labels", imgs, "-out", db}, 1, "", "bad magic number"},
		{[]string{"mnist", "-images", imgs, "-labels", labs, "-out", db}, 0, "", "Wrote 3 records"},
		{[]string{"count", "-db", db}, 0, "3\n", ""},
		{[]string{"count", "-db", dir}, 1, "", "not an LMDB (no data.mdb)"},
		{[]string{"mean", "-db", db, "-out", mean}, 0, "", "mean_value channel [0]: 3"},
		{[]string{"mean", "-db", db}, 1, "", "-db and -out are required"},
		{[]string{"cifar10", "-in", dir, "-out", dir}, 1, "", "data_batch_1.bin"},
		{[]string{"images", "-list", filepath.Join(dir, "nolist"), "-out", filepath.Join(dir, "x")}, 1, "", "nolist"},
		{[]string{"count", "-db", db, "extra"}, 1, "", "unexpected arguments"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := run(c.args, &out, &errb)
		if code != c.code || out.String() != c.out && c.out != "" || !strings.Contains(errb.String(), c.errIn) {
			t.Errorf("%v: code %d, stdout %q, stderr %q; want code %d, stdout %q, stderr containing %q",
				c.args, code, out.String(), errb.String(), c.code, c.out, c.errIn)
		}
	}
	bp, err := prototxt.LoadBlobProto(mean)
	if err != nil || len(bp.Data) != 4 || bp.Data[0] != 3 {
		t.Fatalf("mean file %v %v", bp, err)
	}
}
