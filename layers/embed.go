package layers

import (
	"fmt"
	"math/rand"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("Embed", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		ep := p.GetEmbedParam()
		if ep.GetNumOutput() == 0 {
			return nil, layerErr(p, "embed_param.num_output must be positive")
		}
		if ep.GetInputDim() == 0 {
			return nil, layerErr(p, "embed_param.input_dim must be positive")
		}
		return &Embed{lp: p, rng: contextRand(ctx), n: int(ep.GetNumOutput()), k: int(ep.GetInputDim()), biasTerm: ep.GetBiasTerm()}, nil
	})
}

// Embed is Caffe's Embed layer: a lookup table. Each bottom value is an
// integer index in [0, input_dim); the top (bottom's shape + num_output)
// gets row index of the weight (input_dim×num_output) plus the bias
// (num_output) when bias_term. Gradients go to the weight and bias only:
// the indices cannot be differentiated.
type Embed struct {
	lp       *caffepb.LayerParameter
	rng      *rand.Rand
	n, k     int
	biasTerm bool
	weight   *Blob
	bias     *Blob
	params   []*Blob
	shape    []int // top shape, reused
}

// Type returns "Embed".
func (l *Embed) Type() string { return "Embed" }

// Params returns the weight and, with bias_term, the bias.
func (l *Embed) Params() []*Blob { return l.params }

// AllowForceBackward is false: indices get no gradient.
func (l *Embed) AllowForceBackward(i int) bool { return false }

// Setup creates and fills the weight and bias, then shapes the top.
func (l *Embed) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 1, 1, 1); err != nil {
		return err
	}
	ep := l.lp.GetEmbedParam()
	var err error
	if l.weight, err = newParam(l.lp, "weight", ep.GetWeightFiller(), l.rng, l.k, l.n); err != nil {
		return err
	}
	l.params = []*Blob{l.weight}
	if l.biasTerm {
		if l.bias, err = newParam(l.lp, "bias", ep.GetBiasFiller(), l.rng, l.n); err != nil {
			return err
		}
		l.params = append(l.params, l.bias)
	}
	if err := loadLayerBlobs(l.lp, l.params); err != nil {
		return err
	}
	return l.Reshape(bottom, top)
}

// Reshape gives the top the bottom's shape plus num_output.
func (l *Embed) Reshape(bottom, top []*Blob) error {
	nb := bottom[0].NumAxes()
	l.shape = resizeInts(l.shape, nb+1)
	copy(l.shape, bottom[0].Shape())
	l.shape[nb] = l.n
	top[0].Reshape(l.shape...)
	return nil
}

// index validates one bottom value as a row of the table.
func (l *Embed) index(v float32) (int, error) {
	i := int(v)
	if float32(i) != v || i < 0 || i >= l.k {
		return 0, fmt.Errorf("layer %q (Embed): input %g is not an integer index in [0, %d)", l.lp.GetName(), v, l.k)
	}
	return i, nil
}

// Forward copies the selected rows.
func (l *Embed) Forward(bottom, top []*Blob) error {
	x, y := bottom[0].Data[:bottom[0].Count()], top[0].Data
	for m, v := range x {
		i, err := l.index(v)
		if err != nil {
			return err
		}
		row := y[m*l.n : (m+1)*l.n]
		copy(row, l.weight.Data[i*l.n:(i+1)*l.n])
		if l.biasTerm {
			for j, b := range l.bias.Data {
				row[j] += b
			}
		}
	}
	return nil
}

// Backward accumulates the top gradient into the rows used and the bias.
// Indices have no gradient: a bottom asked for one gets zeros.
func (l *Embed) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if propagates(propagateDown, 0) {
		clear(bottom[0].Diff[:bottom[0].Count()])
	}
	x, dy := bottom[0].Data[:bottom[0].Count()], top[0].Diff
	for m, v := range x {
		i := int(v) // validated by Forward
		g := dy[m*l.n : (m+1)*l.n]
		w := l.weight.Diff[i*l.n : (i+1)*l.n]
		for j, d := range g {
			w[j] += d
		}
		if l.biasTerm {
			for j, d := range g {
				l.bias.Diff[j] += d
			}
		}
	}
}
