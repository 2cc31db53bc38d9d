// Package cos is the library face of cos, a native Go reimplementation of
// CaffeOnSpark: it trains Caffe nets described by Caffe's own .prototxt
// files, tests them and extracts per-sample features, on one executor or on
// a cluster of executor processes that all-reduce gradients over gRPC.
//
// The three jobs are Train, Test and Features. Each takes a Config (the same
// settings as cos-train's flags), a context for cancellation, and reports
// progress through Config.Progress. cmd/cos-train is a thin layer over them.
//
// A program that runs jobs with ClusterSize > 1 starts its own executable
// again as the executor processes; it must call RunExecutorIfChild first
// thing in main so those copies act as executors:
//
//	func main() {
//		cos.RunExecutorIfChild()
//		...
//	}
package cos
