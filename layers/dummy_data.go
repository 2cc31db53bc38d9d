package layers

import (
	"math/rand"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("DummyData", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		return &DummyData{lp: p, rng: contextRand(ctx)}, nil
	})
}

// DummyData is Caffe's DummyData layer: tops of fixed shapes filled by
// data_filler, for tests and benchmarks.
//
// dummy_data_param gives either shape (once for all tops or once per top)
// or the legacy num/channels/height/width (each once or once per top; 4-D
// tops), and data_filler none (constant 0), once, or once per top. As in
// Caffe, a top whose filler is constant is filled once at Setup; the others
// are refilled on every Forward.
type DummyData struct {
	lp      *caffepb.LayerParameter
	rng     *rand.Rand
	fillers []*caffepb.FillerParameter // per top
	refill  []bool                     // per top: not constant
}

// Type returns "DummyData".
func (l *DummyData) Type() string { return "DummyData" }

// Params returns nil: DummyData has no learnable blobs.
func (l *DummyData) Params() []*Blob { return nil }

// Setup checks the parameters, shapes the tops and fills the constant ones.
func (l *DummyData) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 0, 0, 1, -1); err != nil {
		return err
	}
	dp := l.lp.GetDummyDataParam()
	nt := len(top)
	oneOrAll := func(n int) bool { return n == 1 || n == nt }
	nf := len(dp.GetDataFiller())
	if nf != 0 && !oneOrAll(nf) {
		return layerErr(l.lp, "number of data fillers must be 0, 1 or equal to the number of tops (%d); you specified %d data fillers", nt, nf)
	}
	legacy := len(dp.GetNum()) > 0 || len(dp.GetChannels()) > 0 || len(dp.GetHeight()) > 0 || len(dp.GetWidth()) > 0
	if legacy {
		if len(dp.GetShape()) > 0 {
			return layerErr(l.lp, "both shape and legacy fields (num, channels, height, width) were specified")
		}
		for _, f := range []struct {
			name string
			n    int
		}{{"num", len(dp.GetNum())}, {"channels", len(dp.GetChannels())}, {"height", len(dp.GetHeight())}, {"width", len(dp.GetWidth())}} {
			if !oneOrAll(f.n) {
				return layerErr(l.lp, "%s must be specified once, or once per top blob (%d); got %d", f.name, nt, f.n)
			}
		}
	} else if !oneOrAll(len(dp.GetShape())) {
		return layerErr(l.lp, "shape must be specified once, or once per top blob (%d); got %d", nt, len(dp.GetShape()))
	}
	pick := func(v []uint32, i int) int {
		if len(v) == 1 {
			return int(v[0])
		}
		return int(v[i])
	}
	l.fillers = make([]*caffepb.FillerParameter, nt)
	l.refill = make([]bool, nt)
	for i, t := range top {
		if legacy {
			t.Reshape(pick(dp.GetNum(), i), pick(dp.GetChannels(), i), pick(dp.GetHeight(), i), pick(dp.GetWidth(), i))
		} else {
			s := dp.GetShape()[0]
			if len(dp.GetShape()) > 1 {
				s = dp.GetShape()[i]
			}
			dims := make([]int, len(s.GetDim()))
			for j, d := range s.GetDim() {
				if d < 0 || d > 1<<31-1 {
					return layerErr(l.lp, "shape %v of top %d has an invalid dimension %d", s.GetDim(), i, d)
				}
				dims[j] = int(d)
			}
			t.Reshape(dims...)
		}
		switch nf {
		case 0:
			l.fillers[i] = nil // Caffe's default: constant 0
		case 1:
			l.fillers[i] = dp.GetDataFiller()[0]
		default:
			l.fillers[i] = dp.GetDataFiller()[i]
		}
		// Filling every top here also validates the fillers; the
		// non-constant ones are filled again by every Forward.
		l.refill[i] = l.fillers[i].GetType() != "constant"
		if err := Fill(l.fillers[i], t, l.rng); err != nil {
			return layerErr(l.lp, "top %d: %v", i, err)
		}
	}
	return nil
}

// Reshape does nothing: the tops keep their configured shapes.
func (l *DummyData) Reshape(bottom, top []*Blob) error { return nil }

// Forward refills the tops whose filler is not constant.
func (l *DummyData) Forward(bottom, top []*Blob) error {
	for i, t := range top {
		if l.refill[i] {
			if err := Fill(l.fillers[i], t, l.rng); err != nil {
				return layerErr(l.lp, "top %d: %v", i, err)
			}
		}
	}
	return nil
}

// Backward does nothing: DummyData has no bottoms.
func (l *DummyData) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {}
