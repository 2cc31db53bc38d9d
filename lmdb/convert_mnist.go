package lmdb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/prototxt/caffepb"
)

// IDX magic numbers of MNIST's image and label files.
const (
	mnistImageMagic = 2051
	mnistLabelMagic = 2049
)

// MNISTFiles are the standard names of the four MNIST files (each may also
// be present with a .gz suffix).
var MNISTFiles = struct{ TrainImages, TrainLabels, TestImages, TestLabels string }{
	"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
}

// ConvertMNIST writes an MNIST image file and its label file (IDX format,
// plain or gzipped) into a new LMDB at out, as Caffe's convert_mnist_data
// does: one 1×rows×cols uint8 Datum per image with its label, keys "%08d".
func ConvertMNIST(imagesPath, labelsPath, out string, logf Logf) (int, error) {
	imgs, closeImgs, err := openMaybeGzip(imagesPath)
	if err != nil {
		return 0, err
	}
	defer closeImgs()
	labels, closeLabels, err := openMaybeGzip(labelsPath)
	if err != nil {
		return 0, err
	}
	defer closeLabels()
	var ih [4]uint32
	if err := readHeader(imgs, imagesPath, ih[:], mnistImageMagic, "image"); err != nil {
		return 0, err
	}
	var lh [2]uint32
	if err := readHeader(labels, labelsPath, lh[:], mnistLabelMagic, "label"); err != nil {
		return 0, err
	}
	n, rows, cols := int(ih[1]), int(ih[2]), int(ih[3])
	if n != int(lh[1]) {
		return 0, fmt.Errorf("%s holds %d images but %s holds %d labels", imagesPath, n, labelsPath, lh[1])
	}
	if rows <= 0 || cols <= 0 || rows*cols > 1<<24 {
		return 0, fmt.Errorf("%s: implausible image size %d×%d", imagesPath, rows, cols)
	}
	logf.printf("A total of %d items.", n)
	logf.printf("Rows: %d Cols: %d", rows, cols)
	return writeDB(out, func(w *Writer) error {
		pix := make([]byte, rows*cols)
		var label [1]byte
		d := &caffepb.Datum{Channels: proto.Int32(1), Height: proto.Int32(int32(rows)), Width: proto.Int32(int32(cols))}
		for i := 0; i < n; i++ {
			if _, err := io.ReadFull(imgs, pix); err != nil {
				return fmt.Errorf("%s: truncated: image %d of %d: %w", imagesPath, i, n, err)
			}
			if _, err := io.ReadFull(labels, label[:]); err != nil {
				return fmt.Errorf("%s: truncated: label %d of %d: %w", labelsPath, i, n, err)
			}
			d.Data = pix
			d.Label = proto.Int32(int32(label[0]))
			if err := w.Put(fmt.Sprintf("%08d", i), d); err != nil {
				return err
			}
			if (i+1)%10000 == 0 {
				logf.printf("Processed %d files.", i+1)
			}
		}
		return nil
	})
}

// readHeader reads an IDX header of len(h) big-endian uint32s and checks
// its magic number.
func readHeader(r io.Reader, path string, h []uint32, magic uint32, kind string) error {
	// The magic number alone first, so a swapped file is named as such
	// even when it is shorter than the expected header.
	for i := range h {
		if err := binary.Read(r, binary.BigEndian, &h[i]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%s: too short for an MNIST %s file header", path, kind)
			}
			return fmt.Errorf("%s: %w", path, err)
		}
		if i == 0 && h[0] != magic {
			hint := ""
			switch h[0] {
			case mnistImageMagic:
				hint = " (this is an image file)"
			case mnistLabelMagic:
				hint = " (this is a label file)"
			}
			return fmt.Errorf("%s: bad magic number %d, want %d for an MNIST %s file%s", path, h[0], magic, kind, hint)
		}
	}
	return nil
}

// FindMNIST returns the path of an MNIST file in dir, with or without .gz.
func FindMNIST(dir, name string) (string, error) {
	for _, p := range []string{filepath.Join(dir, name), filepath.Join(dir, name+".gz")} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: no %s or %s.gz", dir, name, name)
}

// ConvertMNISTDir converts the four standard MNIST files in dir into
// out/mnist_train_lmdb and out/mnist_test_lmdb (the names Caffe's
// create_mnist.sh uses).
func ConvertMNISTDir(dir, out string, logf Logf) error {
	for _, set := range []struct{ images, labels, db string }{
		{MNISTFiles.TrainImages, MNISTFiles.TrainLabels, "mnist_train_lmdb"},
		{MNISTFiles.TestImages, MNISTFiles.TestLabels, "mnist_test_lmdb"},
	} {
		ip, err := FindMNIST(dir, set.images)
		if err != nil {
			return err
		}
		lp, err := FindMNIST(dir, set.labels)
		if err != nil {
			return err
		}
		dst := filepath.Join(out, set.db)
		n, err := ConvertMNIST(ip, lp, dst, logf)
		if err != nil {
			return err
		}
		logf.printf("Wrote %d records to %s", n, dst)
	}
	return nil
}
