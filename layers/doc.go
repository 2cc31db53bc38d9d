// Package layers holds Caffe's building blocks: the Blob (an N-D float32
// array with its gradient), the Layer interface with Caffe's
// Setup/Reshape/Forward/Backward life cycle, one file per layer type, the
// registry from Caffe's type strings ("Convolution", "ReLU", …) to
// constructors, and the weight fillers.
//
// Matrix products go through package blas. Kernels that only one layer
// needs and BLAS has no name for (the direct and Winograd convolutions,
// pooling windows, im2col rows) sit beside that layer in *_amd64.s, with
// a portable Go version and a test holding the two equal. Layers size
// every buffer at Reshape and allocate nothing in Forward or Backward.
package layers
