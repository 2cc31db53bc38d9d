// Package layers holds Caffe's building blocks: the Blob (an N-D float32
// array with its gradient), the Layer interface with Caffe's
// Setup/Reshape/Forward/Backward life cycle, one file per layer type, the
// registry from Caffe's type strings ("Convolution", "ReLU", …) to
// constructors, and the weight fillers.
//
// Layers do arithmetic through package blas only, size every buffer at
// Reshape, and allocate nothing in Forward or Backward.
package layers
