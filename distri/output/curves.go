package output

import (
	"fmt"
	"image/color"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Curves collects the series a training job draws: train loss and learning
// rate at every display interval, and each test output at each test interval.
type Curves struct {
	series map[string]plotter.XYs
	order  []string
}

// Series names used by the solver's callbacks.
const (
	SeriesLoss = "train_loss"
	SeriesLR   = "lr"
	// Test outputs are named "test_<output>", e.g. test_accuracy.
)

// Add appends a point to a series.
func (c *Curves) Add(series string, iter int, v float64) {
	if c.series == nil {
		c.series = map[string]plotter.XYs{}
	}
	if _, ok := c.series[series]; !ok {
		c.order = append(c.order, series)
	}
	c.series[series] = append(c.series[series], plotter.XY{X: float64(iter), Y: v})
}

// Len is the number of points in a series.
func (c *Curves) Len(series string) int { return len(c.series[series]) }

// Series lists the series names in the order they first appeared.
func (c *Curves) Series() []string { return append([]string(nil), c.order...) }

// CSV renders the series in long form: one "iteration,series,value" row per point.
func (c *Curves) CSV() []byte {
	b := []byte("iteration,series,value\n")
	for _, s := range c.order {
		for _, p := range c.series[s] {
			b = strconv.AppendInt(b, int64(p.X), 10)
			b = append(b, ',')
			b = append(b, s...)
			b = append(b, ',')
			b = strconv.AppendFloat(b, p.Y, 'g', -1, 64)
			b = append(b, '\n')
		}
	}
	return b
}

// WriteFiles writes base+".csv" and base+".png". The picture has three
// panels sharing the iteration axis: losses (train and test, log scale, so
// the late, small values stay readable), the other test outputs (accuracy…),
// and the learning rate.
func (c *Curves) WriteFiles(base string) error {
	if err := WriteFileAtomic(base+".csv", c.CSV()); err != nil {
		return err
	}
	newPanel := func(title, ylabel string) *plot.Plot {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text = "iteration"
		p.Y.Label.Text = ylabel
		p.Legend.Top = true
		return p
	}
	losses := newPanel("training", "loss")
	if lo, hi, ok := c.positiveLossRange(); ok {
		losses.Y.Label.Text = "loss (log scale)"
		losses.Y.Scale = plot.LogScale{}
		losses.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		// Set the range ourselves: a flat curve would otherwise get a
		// range reaching 0, which a log axis cannot draw.
		losses.Y.Min, losses.Y.Max = lo/1.5, hi*1.5
	}
	outputs := newPanel("", "test outputs")
	lr := newPanel("", "learning rate")
	colors := []color.Color{
		color.RGBA{31, 119, 180, 255}, color.RGBA{214, 39, 40, 255}, color.RGBA{44, 160, 44, 255},
		color.RGBA{148, 103, 189, 255}, color.RGBA{255, 127, 14, 255}, color.RGBA{140, 86, 75, 255},
	}
	maxX := 0.0
	panels := []*plot.Plot{losses}
	hasOutputs := false
	for i, s := range c.order {
		pts := c.series[s]
		if len(pts) == 0 {
			continue
		}
		maxX = math.Max(maxX, pts[len(pts)-1].X)
		target := outputs
		switch {
		case s == SeriesLR:
			target = lr
		case strings.Contains(s, "loss"):
			target = losses
			// A log axis cannot show zero or negative losses.
			pts = positive(pts)
			if len(pts) == 0 {
				continue
			}
		default:
			hasOutputs = true
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("curve %s: %w", s, err)
		}
		line.Color = colors[i%len(colors)]
		if s == SeriesLR {
			line.Color = color.Black
		}
		target.Add(line)
		if s != SeriesLR {
			target.Legend.Add(s, line)
		}
	}
	if hasOutputs {
		panels = append(panels, outputs)
	}
	panels = append(panels, lr)
	rows := make([][]*plot.Plot, len(panels))
	for i, p := range panels {
		p.X.Min, p.X.Max = 0, math.Max(maxX, 1)
		rows[i] = []*plot.Plot{p}
	}
	w, h := 8*vg.Inch, vg.Length(len(panels))*3*vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	pad := vg.Centimeter / 4
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadY: 2 * pad, PadTop: pad, PadBottom: pad, PadLeft: pad, PadRight: pad}
	canvases := plot.Align(rows, tiles, dc)
	for i, p := range panels {
		p.Draw(canvases[i][0])
	}
	a, err := createAtomic(base + ".png")
	if err != nil {
		return err
	}
	png := vgimg.PngCanvas{Canvas: img}
	if _, err := png.WriteTo(a); err != nil {
		a.Abort()
		return fmt.Errorf("curves png: %w", err)
	}
	return a.Commit()
}

// positiveLossRange is the range of the positive loss values, if any.
func (c *Curves) positiveLossRange() (lo, hi float64, ok bool) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, s := range c.order {
		if !strings.Contains(s, "loss") {
			continue
		}
		for _, p := range positive(c.series[s]) {
			lo, hi, ok = math.Min(lo, p.Y), math.Max(hi, p.Y), true
		}
	}
	return lo, hi, ok
}

func positive(pts plotter.XYs) plotter.XYs {
	out := make(plotter.XYs, 0, len(pts))
	for _, p := range pts {
		if p.Y > 0 {
			out = append(out, p)
		}
	}
	return out
}
