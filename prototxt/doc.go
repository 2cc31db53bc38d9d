// Package prototxt holds Caffe's model description (caffe.proto, with the
// generated Go types in package caffepb) and loads Caffe's files: solver and
// net definitions in protobuf text format (.prototxt), and binary NetParameter
// (.caffemodel) and BlobProto (.binaryproto) files.
//
// Text parse errors name the file, line and column. Nets in Caffe's old V0 and
// V1 formats are upgraded on load, as Caffe's upgrade_proto does. Relative data
// paths in a net are found the way Caffe finds them (from the working
// directory) and, failing that, next to the solver file; file: URLs are
// accepted, remote URLs (hdfs://, s3://, ...) are rejected.
package prototxt
