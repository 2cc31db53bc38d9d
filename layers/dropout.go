package layers

import (
	"math/rand"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("Dropout", newDropout)
}

// Dropout is Caffe's Dropout layer. In TRAIN each element is kept with
// probability 1-dropout_ratio and, by default (Caffe's inverted dropout),
// scaled by 1/(1-dropout_ratio), so TEST is the identity. The mask is drawn
// from the context's random source, so a seeded net drops the same units.
//
// DropoutParameter.scale_train (a field of the NVIDIA/Intel Caffe forks, not
// of BVLC's caffe.proto) is honoured when the proto declares it: false keeps
// unscaled units in TRAIN and scales by 1-dropout_ratio in TEST.
//
// In place is safe: the mask is stored, and each element's gradient depends
// only on its own dy.
type Dropout struct {
	lp         *caffepb.LayerParameter
	rng        *rand.Rand
	train      bool
	ratio      float32
	scaleTrain bool
	scale      float32   // 1/(1-ratio)
	mask       []float32 // per element: 0 or the multiplier applied in TRAIN
}

func newDropout(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
	dp := p.GetDropoutParam()
	ratio := dp.GetDropoutRatio()
	if !(ratio >= 0 && ratio < 1) {
		return nil, layerErr(p, "dropout_ratio must be in [0, 1), got %g", ratio)
	}
	l := &Dropout{
		lp:         p,
		rng:        contextRand(ctx),
		train:      phaseOfLayer(p, ctx) == caffepb.Phase_TRAIN,
		ratio:      ratio,
		scaleTrain: protoBoolField(dp, "scale_train", true),
		scale:      1 / (1 - ratio),
	}
	return l, nil
}

// Type returns "Dropout".
func (l *Dropout) Type() string { return "Dropout" }

// Params returns nil: Dropout has no learnable blobs.
func (l *Dropout) Params() []*Blob { return nil }

// Setup checks for one bottom and one top and shapes the top.
func (l *Dropout) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 1, 1, 1); err != nil {
		return err
	}
	return l.Reshape(bottom, top)
}

// Reshape gives the top the bottom's shape and sizes the mask.
func (l *Dropout) Reshape(bottom, top []*Blob) error {
	neuronReshape(bottom, top)
	if l.train {
		l.mask = ensureLen(l.mask, bottom[0].Count())
	}
	return nil
}

// Forward draws a new mask and applies it in TRAIN; in TEST it copies (or,
// without scale_train, scales by 1-ratio).
func (l *Dropout) Forward(bottom, top []*Blob) error {
	x, y := bottom[0].Data[:bottom[0].Count()], top[0].Data
	if !l.train {
		if l.scaleTrain {
			if top[0] != bottom[0] {
				copy(y, x)
			}
			return nil
		}
		keep := 1 - l.ratio
		for i, v := range x {
			y[i] = v * keep
		}
		return nil
	}
	mult := l.scale
	if !l.scaleTrain {
		mult = 1
	}
	mask := l.mask[:len(x)]
	for i, v := range x {
		// Caffe keeps a unit with probability 1-ratio (a Bernoulli draw).
		if l.rng.Float32() >= l.ratio {
			mask[i] = mult
			y[i] = v * mult
		} else {
			mask[i] = 0
			y[i] = 0
		}
	}
	return nil
}

// Backward passes the gradient through the kept units with the same scale.
func (l *Dropout) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if !propagates(propagateDown, 0) {
		return
	}
	dy, dx := top[0].Diff, bottom[0].Diff[:bottom[0].Count()]
	if !l.train {
		if l.scaleTrain {
			if top[0] != bottom[0] {
				copy(dx, dy)
			}
			return
		}
		keep := 1 - l.ratio
		for i := range dx {
			dx[i] = dy[i] * keep
		}
		return
	}
	mask := l.mask[:len(dx)]
	for i := range dx {
		dx[i] = dy[i] * mask[i]
	}
}

// protoBoolField reads an optional bool field of a message by name through
// protobuf reflection, so a field that only some caffe.proto variants
// declare is honoured when present; def is returned when the message type
// does not declare it.
func protoBoolField(m protoreflect.ProtoMessage, name protoreflect.Name, def bool) bool {
	msg := m.ProtoReflect()
	fd := msg.Descriptor().Fields().ByName(name)
	if fd == nil || fd.Kind() != protoreflect.BoolKind || fd.Cardinality() == protoreflect.Repeated {
		return def
	}
	if !msg.IsValid() {
		return fd.Default().Bool()
	}
	return msg.Get(fd).Bool()
}
