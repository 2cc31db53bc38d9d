//go:build cosref

package blas

// forceRef is set by the cosref build tag: every kernel runs the reference.
const forceRef = true
