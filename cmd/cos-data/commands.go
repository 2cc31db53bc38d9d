package main

import (
	"flag"
	"fmt"

	"github.com/cos-project/cos/lmdb"
	"github.com/cos-project/cos/prototxt"
)

func mnistCmd(fs *flag.FlagSet) func() error {
	in := fs.String("in", "", "directory holding the four standard MNIST files (train-images-idx3-ubyte[.gz], ...); writes OUT/mnist_train_lmdb and OUT/mnist_test_lmdb")
	images := fs.String("images", "", "one IDX image file (instead of -in)")
	labels := fs.String("labels", "", "its IDX label file")
	out := fs.String("out", "", "output directory (with -in) or the LMDB to create (with -images)")
	return func() error {
		switch {
		case *out == "":
			return usageErr("-out is required")
		case *in != "" && (*images != "" || *labels != ""):
			return usageErr("give either -in or -images/-labels, not both")
		case *in != "":
			return lmdb.ConvertMNISTDir(*in, *out, logf)
		case *images == "" || *labels == "":
			return usageErr("give -in DIR, or both -images and -labels")
		}
		n, err := lmdb.ConvertMNIST(*images, *labels, *out, logf)
		if err == nil {
			logf("Wrote %d records to %s", n, *out)
		}
		return err
	}
}

func cifarCmd(fs *flag.FlagSet) func() error {
	in := fs.String("in", "", "directory holding data_batch_1.bin ... data_batch_5.bin and test_batch.bin")
	out := fs.String("out", "", "output directory; gets cifar10_train_lmdb and cifar10_test_lmdb")
	return func() error {
		if *in == "" || *out == "" {
			return usageErr("-in and -out are required")
		}
		return lmdb.ConvertCIFAR10(*in, *out, logf)
	}
}

func imagesCmd(fs *flag.FlagSet) func() error {
	var o lmdb.ImageOptions
	fs.StringVar(&o.Root, "root", "", "folder the list's paths are relative to")
	list := fs.String("list", "", "list file: one \"path label\" per line")
	out := fs.String("out", "", "the LMDB to create")
	fs.IntVar(&o.ResizeHeight, "resize_height", 0, "resize images to this height (with -resize_width)")
	fs.IntVar(&o.ResizeWidth, "resize_width", 0, "resize images to this width (with -resize_height)")
	fs.BoolVar(&o.Gray, "gray", false, "store 1-channel grayscale images")
	fs.BoolVar(&o.Shuffle, "shuffle", false, "shuffle the list order")
	fs.Int64Var(&o.Seed, "seed", 0, "random seed of -shuffle")
	fs.BoolVar(&o.Encoded, "encoded", false, "store the encoded PNG/JPEG bytes instead of pixels")
	fs.StringVar(&o.EncodeType, "encode_type", "", "with -encoded: store every image as png or jpg (default: each file's own format)")
	fs.BoolVar(&o.CheckSize, "check_size", false, "require all images to have the same size")
	o.Logf = logf
	return func() error {
		if *list == "" || *out == "" {
			return usageErr("-list and -out are required")
		}
		if o.ResizeHeight < 0 || o.ResizeWidth < 0 {
			return usageErr("-resize_height and -resize_width must not be negative")
		}
		n, err := lmdb.ConvertImages(*list, *out, o)
		if err == nil {
			logf("Wrote %d records to %s", n, *out)
		}
		return err
	}
}

func meanCmd(fs *flag.FlagSet) func() error {
	db := fs.String("db", "", "the LMDB to average")
	out := fs.String("out", "", "the binaryproto file to write")
	return func() error {
		if *db == "" || *out == "" {
			return usageErr("-db and -out are required")
		}
		bp, channels, err := lmdb.ComputeMean(*db)
		if err != nil {
			return err
		}
		if err := prototxt.WriteBinary(*out, bp); err != nil {
			return err
		}
		logf("Number of channels: %d", len(channels))
		for i, m := range channels {
			logf("mean_value channel [%d]: %g", i, m)
		}
		logf("Wrote %s", *out)
		return nil
	}
}

func countCmd(fs *flag.FlagSet) func() error {
	db := fs.String("db", "", "the LMDB")
	return func() error {
		if *db == "" {
			return usageErr("-db is required")
		}
		d, err := lmdb.Open(*db)
		if err != nil {
			return err
		}
		defer d.Close()
		fmt.Fprintln(outw, d.Len())
		return nil
	}
}
