package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cos-project/cos/lmdb"
	"github.com/cos-project/cos/prototxt/caffepb"
	"google.golang.org/protobuf/proto"
)

// writeLMDB writes records of the given channel×height×width shapes, one
// per shape, cycling until n records are written.
func writeLMDB(t *testing.T, path string, n int, shapes ...[3]int) {
	t.Helper()
	w, err := lmdb.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		s := shapes[i%len(shapes)]
		d := &caffepb.Datum{Channels: proto.Int32(int32(s[0])), Height: proto.Int32(int32(s[1])), Width: proto.Int32(int32(s[2])),
			Data: make([]byte, s[0]*s[1]*s[2]), Label: proto.Int32(int32(i % 2))}
		if err := w.Put(fmt.Sprintf("%08d", i), d); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

const goodLayers = `
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 2 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
`

func dataLayer(source string) string {
	return `layer { name: "data" type: "Data" top: "data" top: "label" data_param { source: "` + source + `" batch_size: 4 backend: LMDB } }`
}

// TestBadInputExitsCleanly runs cos-train on broken jobs: each must exit 1
// with an error naming the file, line, layer or record at fault.
func TestBadInputExitsCleanly(t *testing.T) {
	dir := t.TempDir()
	writeLMDB(t, filepath.Join(dir, "good_lmdb"), 16, [3]int{1, 4, 4})
	writeLMDB(t, filepath.Join(dir, "mixed_lmdb"), 16, [3]int{1, 4, 4}, [3]int{3, 4, 4})
	os.MkdirAll(filepath.Join(dir, "not_an_lmdb"), 0o755)
	os.WriteFile(filepath.Join(dir, "not_an_lmdb", "README"), []byte("hello"), 0o644)
	cases := []struct {
		name string
		net  string
		want []string
	}{
		{"syntax error", dataLayer("good_lmdb") + "\nlayer { name: \"ip\" type: \"InnerProduct\" bottom: \"data\" top: \"ip\" inner_product_param { num_output: } }\n",
			[]string{"net.prototxt:2:"}},
		{"unknown layer type", dataLayer("good_lmdb") + `layer { name: "warp" type: "WarpDrive" bottom: "data" top: "w" }` + goodLayers,
			[]string{"warp", "WarpDrive"}},
		{"bottom nobody produces", dataLayer("good_lmdb") + `layer { name: "ip" type: "InnerProduct" bottom: "dta" top: "ip" inner_product_param { num_output: 2 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }`,
			[]string{"layer ip", "dta"}},
		{"missing source", dataLayer("nowhere_lmdb") + goodLayers, []string{"nowhere_lmdb", "data"}},
		{"not an LMDB", dataLayer("not_an_lmdb") + goodLayers, []string{"not_an_lmdb", "not an LMDB"}},
		{"datum size differs", dataLayer("mixed_lmdb") + goodLayers, []string{"data", "00000001"}},
		{"datum size differs from MemoryData", `layer { name: "data" type: "MemoryData" top: "data" top: "label" source_class: "com.yahoo.ml.caffe.LMDB"
memory_data_param { source: "file:good_lmdb" batch_size: 4 channels: 1 height: 28 width: 28 } }` + goodLayers,
			[]string{"data", "28"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sub := filepath.Join(dir, fmt.Sprintf("job%d", i))
			os.MkdirAll(sub, 0o755)
			for _, db := range []string{"good_lmdb", "mixed_lmdb", "not_an_lmdb"} {
				os.Symlink(filepath.Join(dir, db), filepath.Join(sub, db))
			}
			os.WriteFile(filepath.Join(sub, "net.prototxt"), []byte(c.net), 0o644)
			os.WriteFile(filepath.Join(sub, "solver.prototxt"), []byte("net: \"net.prototxt\"\nbase_lr: 0.1\nlr_policy: \"fixed\"\nmax_iter: 3\nsnapshot_after_train: false\n"), 0o644)
			var stdout, stderr bytes.Buffer
			code := run([]string{"-train", "-quiet", "-conf", filepath.Join(sub, "solver.prototxt"), "-model", filepath.Join(sub, "m.caffemodel")}, &stdout, &stderr)
			if code != 1 {
				t.Fatalf("exit code %d, want 1; stderr:\n%s", code, stderr.String())
			}
			msg := stderr.String()
			if strings.Contains(msg, "panic") || strings.Contains(msg, "goroutine ") {
				t.Fatalf("a panic reached the user:\n%s", msg)
			}
			last := msg[strings.LastIndex(strings.TrimSuffix(msg, "\n"), "cos-train: "):]
			for _, w := range c.want {
				if !strings.Contains(last, w) {
					t.Errorf("error %q does not mention %q", strings.TrimSpace(last), w)
				}
			}
			if _, err := os.Stat(filepath.Join(sub, "m.caffemodel")); !os.IsNotExist(err) {
				t.Errorf("a model file was left behind: %v", err)
			}
		})
	}
}
