package distri

//go:generate protoc --proto_path=. --plugin=protoc-gen-go=/root/go/bin/protoc-gen-go --plugin=protoc-gen-go-grpc=/root/go/bin/protoc-gen-go-grpc --go_out=distripb --go_opt=paths=source_relative --go-grpc_out=distripb --go-grpc_opt=paths=source_relative distri.proto
