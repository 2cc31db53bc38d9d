package layers

import (
	"fmt"
	"math"
	"math/rand"

	"github.com/cos-project/cos/prototxt/caffepb"
)

// Fill initialises b.Data as Caffe's filler named by p.Type does. A nil p is
// Caffe's default FillerParameter: constant 0.
//
// Supported types: constant (value), uniform (min, max), gaussian (mean,
// std, and sparse: the expected number of non-zero weights per output),
// positive_unitball (each of the num rows is positive and sums to 1), xavier
// (uniform ±sqrt(3/n)), msra (gaussian with std sqrt(2/n)) and bilinear (the
// upsampling kernel of a deconvolution). For xavier and msra, n follows
// variance_norm exactly as Caffe: fan_in = count/num, fan_out =
// count/channels, AVERAGE is their mean.
func Fill(p *caffepb.FillerParameter, b *Blob, rng *rand.Rand) error {
	typ := p.GetType()
	if p.GetSparse() >= 0 && typ != "gaussian" {
		return fmt.Errorf("filler %q: sparse is only supported by the gaussian filler", typ)
	}
	data := b.Data[:b.Count()]
	switch typ {
	case "constant":
		v := p.GetValue()
		for i := range data {
			data[i] = v
		}
	case "uniform":
		lo, hi := p.GetMin(), p.GetMax()
		if lo > hi {
			return fmt.Errorf("uniform filler: min %g is greater than max %g", lo, hi)
		}
		fillUniform(rng, float64(lo), float64(hi), data)
	case "gaussian":
		std := p.GetStd()
		if std <= 0 {
			return fmt.Errorf("gaussian filler: std must be positive, got %g", std)
		}
		fillGaussian(rng, float64(p.GetMean()), float64(std), data)
		if sparse := p.GetSparse(); sparse >= 0 {
			// Caffe keeps each weight with probability sparse/num_outputs,
			// num_outputs being the first axis, so every output sees about
			// `sparse` non-zero inputs.
			if b.NumAxes() < 1 {
				return fmt.Errorf("gaussian filler: sparse needs a blob with at least one axis")
			}
			keep := float64(sparse) / float64(b.Shape()[0])
			for i := range data {
				if rng.Float64() >= keep {
					data[i] = 0
				}
			}
		}
	case "positive_unitball":
		fillUniform(rng, 0, 1, data)
		num := b.Num()
		if num == 0 || len(data) == 0 {
			return nil
		}
		dim := len(data) / num
		for i := 0; i < num; i++ {
			row := data[i*dim : (i+1)*dim]
			var s float64
			for _, v := range row {
				s += float64(v)
			}
			for j := range row {
				row[j] = float32(float64(row[j]) / s)
			}
		}
	case "xavier", "msra":
		n, err := fillerFan(p, b)
		if err != nil {
			return fmt.Errorf("%s filler: %w", typ, err)
		}
		if typ == "xavier" {
			scale := math.Sqrt(3 / n)
			fillUniform(rng, -scale, scale, data)
		} else {
			fillGaussian(rng, 0, math.Sqrt(2/n), data)
		}
	case "bilinear":
		if b.NumAxes() != 4 {
			return fmt.Errorf("bilinear filler: blob must be 4-D, got shape %v", b.Shape())
		}
		w, h := b.Width(), b.Height()
		if w != h {
			return fmt.Errorf("bilinear filler: kernel must be square, got %dx%d", h, w)
		}
		f := math.Ceil(float64(w) / 2)
		c := (2*f - 1 - math.Mod(f, 2)) / (2 * f)
		for i := range data {
			x := float64(i % w)
			y := float64((i / w) % h)
			data[i] = float32((1 - math.Abs(x/f-c)) * (1 - math.Abs(y/f-c)))
		}
	default:
		return fmt.Errorf("unknown filler type %q (known: constant, uniform, gaussian, positive_unitball, xavier, msra, bilinear)", typ)
	}
	return nil
}

// fillerFan returns the n of xavier and msra for the blob's shape.
func fillerFan(p *caffepb.FillerParameter, b *Blob) (float64, error) {
	count := b.Count()
	if count == 0 || b.Num() == 0 || b.Channels() == 0 {
		return 0, fmt.Errorf("blob of shape %v is empty", b.Shape())
	}
	fanIn := float64(count / b.Num())
	fanOut := float64(count / b.Channels())
	switch p.GetVarianceNorm() {
	case caffepb.FillerParameter_FAN_OUT:
		return fanOut, nil
	case caffepb.FillerParameter_AVERAGE:
		return (fanIn + fanOut) / 2, nil
	default:
		return fanIn, nil
	}
}

func fillUniform(rng *rand.Rand, lo, hi float64, x []float32) {
	for i := range x {
		x[i] = float32(lo + (hi-lo)*rng.Float64())
	}
}

func fillGaussian(rng *rand.Rand, mean, std float64, x []float32) {
	for i := range x {
		x[i] = float32(mean + std*rng.NormFloat64())
	}
}

// contextRand returns the net's random source, or a fixed-seed one when a
// layer is built without a context (tests, tools), so filling stays
// reproducible either way.
func contextRand(ctx *Context) *rand.Rand {
	if ctx != nil && ctx.Rand != nil {
		return ctx.Rand
	}
	return rand.New(rand.NewSource(1701))
}

// newParam creates a learnable blob and fills it, naming the layer in any
// filler error.
func newParam(lp *caffepb.LayerParameter, what string, fp *caffepb.FillerParameter, rng *rand.Rand, shape ...int) (*Blob, error) {
	b := NewBlob(shape...)
	b.Name = lp.GetName() + "." + what
	if err := Fill(fp, b, rng); err != nil {
		return nil, fmt.Errorf("layer %q (%s) %s: %w", lp.GetName(), lp.GetType(), what, err)
	}
	return b, nil
}
