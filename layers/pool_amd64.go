//go:build amd64 && !purego

package layers

import "golang.org/x/sys/cpu"

// poolAVX512 says whether the AVX-512 max-pooling row kernel can run.
var poolAVX512 = cpu.X86.HasAVX512F

// maxPool3x3s2AVX512 pools up to 16 3x3 stride-2 windows in each of ny
// output rows with 16-lane integer compares on order keys (pool_amd64.s).
//
//go:noescape
func maxPool3x3s2AVX512(in *float32, w int, out *float32, mask *int32, base, noMax int, m1, m2, m3 uint64, rows, ny, outStride int)

// maxPool2x2s2AVX512 is maxPool3x3s2AVX512 for whole 2x2 windows.
//
//go:noescape
func maxPool2x2s2AVX512(in *float32, w int, out *float32, mask *int32, base, noMax int, m1, m2, m3 uint64, ny, outStride, planeRows int)

// maxUnpool2x2s2AVX512 is the MAX backward pass of planes tiled exactly
// by 2x2 stride-2 windows: it writes every bottom gradient element.
//
//go:noescape
func maxUnpool2x2s2AVX512(dIn *float32, w int, dOut *float32, mask *int32, m1, m2, m3 uint64, ny, outStride, planeRows int)

// maxPool2x2s2BAVX512 is maxPool2x2s2AVX512 writing a byte per window:
// the argmax's position in it (0-3), 0xff when there is none.
//
//go:noescape
func maxPool2x2s2BAVX512(in *float32, w int, out *float32, mask *uint8, noMax int, m1, m2, m3 uint64, ny, outStride, pf int)

// maxUnpool2x2s2BAVX512 is maxUnpool2x2s2AVX512 for those byte masks.
//
//go:noescape
func maxUnpool2x2s2BAVX512(dIn *float32, w int, dOut *float32, mask *uint8, m1, m2, m3 uint64, ny, outStride, pf int)

// maxPool2x2s2PAVX512 is maxPool2x2s2BAVX512 for planes at most 8
// windows wide, 2 or 4 output rows packed in each vector.
//
//go:noescape
func maxPool2x2s2PAVX512(in *float32, w int, out *float32, mask *uint8, noMax int, kLo, kHi, kOut, kCnt uint64, off1, off2, off3, groups, inStep, outStep, pf int)

// maxUnpool2x2s2PAVX512 is the backward pass of maxPool2x2s2PAVX512.
//
//go:noescape
func maxUnpool2x2s2PAVX512(dIn *float32, w int, dOut *float32, mask *uint8, kLo, kHi, kOut, kCnt uint64, off1, off2, off3, groups, inStep, outStep, pf int)

// maxPool3x3s2PlAVX512 pools whole planes of 3x3 stride-2 windows, at
// most 32 columns wide, writing byte masks (pool_amd64.s).
//
//go:noescape
func maxPool3x3s2PlAVX512(in *float32, w, h int, out *float32, mask *uint8, noMax int, m1, m2, m3 uint64, planes, outH, outW, pf int)

// maxUnpool3x3s2PlAVX512 is the backward pass of maxPool3x3s2PlAVX512.
//
//go:noescape
func maxUnpool3x3s2PlAVX512(dIn *float32, w, h int, dOut *float32, mask *uint8, m1, m2, m3 uint64, planes, outH, outW, pf int)

// avePool3x3s2PlAVX512 is maxPool3x3s2PlAVX512 for AVE pooling; div
// holds a plane's divisors.
//
//go:noescape
func avePool3x3s2PlAVX512(in *float32, w, h int, out *float32, div *float32, m1, m2, m3 uint64, planes, outH, outW, pf int)

// aveUnpool3x3s2PlAVX512 is the backward pass of avePool3x3s2PlAVX512.
//
//go:noescape
func aveUnpool3x3s2PlAVX512(dIn *float32, w, h int, dOut *float32, div *float32, m1, m2, m3 uint64, planes, outH, outW, pf int)
