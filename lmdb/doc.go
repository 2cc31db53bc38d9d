// Package lmdb reads and writes Caffe's Datum records in LMDB databases, the
// format Caffe's convert_mnist_data, convert_imageset and convert_cifar_data
// write and its Data layer reads, and holds the converters behind cos-data.
//
// Reading is by shard: an executor of a job of count executors reads the
// contiguous key range index of count (see DB.Shard), as CaffeOnSpark's LMDB
// partitions do. Records are decoded without allocation into a reused
// layers.Sample (DecodeDatum), so a warmed-up training loop allocates nothing.
//
// Only the LMDB backend is supported; Caffe's LevelDB backend is rejected with
// a clear error (convert the data with cos-data or Caffe's tools instead).
package lmdb
