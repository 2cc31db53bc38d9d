package cos_test

import (
	"context"
	"fmt"
	"log"
	"math/rand"
	"os"
	"path/filepath"

	cos "github.com/cos-project/cos"
	"github.com/cos-project/cos/lmdb"
	"github.com/cos-project/cos/prototxt/caffepb"
	"google.golang.org/protobuf/proto"
)

// Example trains a small net on generated data, then tests the saved model,
// the way a program embeds cos.
func Example() {
	dir, err := os.MkdirTemp("", "cos-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// Two classes of 1×4×4 images: bright left half (1) or right half (0).
	rng := rand.New(rand.NewSource(1))
	for _, name := range []string{"train_lmdb", "test_lmdb"} {
		w, err := lmdb.Create(filepath.Join(dir, name))
		if err != nil {
			log.Fatal(err)
		}
		for i := 0; i < 100; i++ {
			label := rng.Intn(2)
			px := make([]byte, 16)
			for j := range px {
				px[j] = byte(40 + rng.Intn(60))
				if (j%4 < 2) == (label == 1) {
					px[j] += 120
				}
			}
			d := &caffepb.Datum{Channels: proto.Int32(1), Height: proto.Int32(4), Width: proto.Int32(4), Data: px, Label: proto.Int32(int32(label))}
			if err := w.Put(fmt.Sprintf("%08d", i), d); err != nil {
				log.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			log.Fatal(err)
		}
	}

	// Caffe's own prototxt formats, unchanged.
	netDef := `name: "Example"
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TRAIN }
        transform_param { scale: 0.00390625 } data_param { source: "train_lmdb" batch_size: 10 backend: LMDB } }
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TEST }
        transform_param { scale: 0.00390625 } data_param { source: "test_lmdb" batch_size: 10 backend: LMDB } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
        inner_product_param { num_output: 2 weight_filler { type: "xavier" } } }
layer { name: "accuracy" type: "Accuracy" bottom: "ip" bottom: "label" top: "accuracy" include { phase: TEST } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
`
	solverDef := `net: "net.prototxt"
base_lr: 0.1 momentum: 0.9 lr_policy: "fixed" max_iter: 100 random_seed: 1
snapshot_after_train: false
`
	os.WriteFile(filepath.Join(dir, "net.prototxt"), []byte(netDef), 0o644)
	os.WriteFile(filepath.Join(dir, "solver.prototxt"), []byte(solverDef), 0o644)

	cfg := cos.Config{
		Solver: filepath.Join(dir, "solver.prototxt"),
		Model:  filepath.Join(dir, "example.caffemodel"),
		Progress: func(p cos.Progress) {
			// Called once per iteration: feed a UI, stop early, log...
		},
	}
	tr, err := cos.Train(context.Background(), cfg)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("trained iterations:", tr.Iter)

	res, err := cos.Test(context.Background(), cfg)
	if err != nil {
		log.Fatal(err)
	}
	acc, _ := res.Value("accuracy")
	fmt.Println("test samples:", res.Samples)
	fmt.Println("accuracy above 0.9:", acc > 0.9)
	// Output:
	// trained iterations: 100
	// test samples: 100
	// accuracy above 0.9: true
}
