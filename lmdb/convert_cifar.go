package lmdb

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/prototxt/caffepb"
)

// CIFAR-10 binary format: each record is one label byte then 3×32×32 pixels
// (the red plane, then green, then blue), 10000 records per batch file.
const (
	cifarSize      = 32
	cifarImage     = 3 * cifarSize * cifarSize
	cifarRecord    = 1 + cifarImage
	cifarBatchSize = 10000
	cifarTrainFile = 5
)

// ConvertCIFAR10 converts CIFAR-10's binary batches in dir
// (data_batch_1.bin … data_batch_5.bin, test_batch.bin) into
// out/cifar10_train_lmdb and out/cifar10_test_lmdb, as Caffe's
// convert_cifar_data does: 3×32×32 Datums with the planes stored as the
// file has them (R, G, B), keys "%05d" numbering the records across the
// training batches.
func ConvertCIFAR10(dir, out string, logf Logf) error {
	var train []string
	for i := 1; i <= cifarTrainFile; i++ {
		train = append(train, filepath.Join(dir, fmt.Sprintf("data_batch_%d.bin", i)))
	}
	test := []string{filepath.Join(dir, "test_batch.bin")}
	for _, p := range append(train, test...) {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("CIFAR-10 binary batch missing: %w", err)
		}
	}
	for _, set := range []struct {
		files []string
		db    string
	}{{train, "cifar10_train_lmdb"}, {test, "cifar10_test_lmdb"}} {
		dst := filepath.Join(out, set.db)
		logf.printf("Writing %s", dst)
		n, err := writeDB(dst, func(w *Writer) error {
			id := 0
			for _, f := range set.files {
				if err := appendCIFARBatch(w, f, &id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		logf.printf("Wrote %d records to %s", n, dst)
	}
	return nil
}

// appendCIFARBatch writes the records of one batch file, numbering them
// from *id on.
func appendCIFARBatch(w *Writer, path string, id *int) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() == 0 || st.Size()%cifarRecord != 0 {
		return fmt.Errorf("%s: %d bytes is not a whole number of %d-byte CIFAR-10 records (is it CIFAR-100 or the Python version?)", path, st.Size(), cifarRecord)
	}
	rec := make([]byte, cifarRecord)
	d := &caffepb.Datum{Channels: proto.Int32(3), Height: proto.Int32(cifarSize), Width: proto.Int32(cifarSize)}
	for j := int64(0); j < st.Size()/cifarRecord; j++ {
		if _, err := io.ReadFull(f, rec); err != nil {
			return fmt.Errorf("%s: record %d: %w", path, j, err)
		}
		if rec[0] > 9 {
			return fmt.Errorf("%s: record %d has label %d; CIFAR-10 labels are 0..9", path, j, rec[0])
		}
		d.Label = proto.Int32(int32(rec[0]))
		d.Data = rec[1:]
		if err := w.Put(fmt.Sprintf("%05d", *id), d); err != nil {
			return err
		}
		*id++
	}
	return nil
}
