package prototxt

//go:generate protoc --proto_path=. --go_out=caffepb --go_opt=paths=source_relative caffe.proto
