package lmdb

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/prototxt/caffepb"
)

// ComputeMean averages every record of the LMDB at path, like Caffe's
// compute_image_mean: the result is a BlobProto in the legacy layout
// (num=1, channels, height, width) that transform_param.mean_file reads.
// Encoded records are decoded (keeping their native channel count); all
// records must have the same shape. It also returns the per-channel means
// that compute_image_mean logs.
func ComputeMean(path string) (*caffepb.BlobProto, []float64, error) {
	db, err := Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	src := db.Shard(0, 1)
	defer src.Close()
	var s layers.Sample
	var sum []float64
	var pix []byte
	c, h, w, n := 0, 0, 0, 0
	for {
		err := src.Next(&s)
		if errors.Is(err, layers.ErrEndOfData) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		sc, sh, sw := s.Channels, s.Height, s.Width
		data := s.Data
		if s.Encoded {
			if pix, sc, sh, sw, err = layers.DecodeImage(s.Data, layers.ColorNative, pix); err != nil {
				return nil, nil, fmt.Errorf("%s: key %q: %w", path, s.Key, err)
			}
			data = pix
		}
		if n == 0 {
			c, h, w = sc, sh, sw
			sum = make([]float64, c*h*w)
		} else if sc != c || sh != h || sw != w {
			return nil, nil, fmt.Errorf("%s: key %q has shape %d×%d×%d, the first record %d×%d×%d", path, s.Key, sc, sh, sw, c, h, w)
		}
		switch {
		case len(data) == len(sum):
			for i, v := range data {
				sum[i] += float64(v)
			}
		case len(s.FloatData) == len(sum) && !s.Encoded:
			for i, v := range s.FloatData {
				sum[i] += float64(v)
			}
		default:
			return nil, nil, fmt.Errorf("%s: key %q: %d data bytes and %d float_data values for shape %d×%d×%d", path, s.Key, len(data), len(s.FloatData), sc, sh, sw)
		}
		n++
	}
	if n == 0 {
		return nil, nil, fmt.Errorf("%s: no records to average", path)
	}
	bp := &caffepb.BlobProto{Num: proto.Int32(1), Channels: proto.Int32(int32(c)), Height: proto.Int32(int32(h)), Width: proto.Int32(int32(w)),
		Data: make([]float32, len(sum))}
	channel := make([]float64, c)
	for i, v := range sum {
		m := v / float64(n)
		bp.Data[i] = float32(m)
		channel[i/(h*w)] += m / float64(h*w)
	}
	return bp, channel, nil
}
