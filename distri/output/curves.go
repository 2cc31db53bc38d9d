package output

import (
	"fmt"
	"image/color"
	"sort"
	"strconv"

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

// WriteFiles writes base+".csv" and base+".png": the loss and test outputs
// on the top panel, the learning rate below.
func (c *Curves) WriteFiles(base string) error {
	if err := WriteFileAtomic(base+".csv", c.CSV()); err != nil {
		return err
	}
	top := plot.New()
	top.Title.Text = "training"
	top.X.Label.Text = "iteration"
	top.Y.Label.Text = "loss / test outputs"
	top.Legend.Top = true
	bottom := plot.New()
	bottom.X.Label.Text = "iteration"
	bottom.Y.Label.Text = "learning rate"
	names := append([]string(nil), c.order...)
	sort.SliceStable(names, func(i, j int) bool { return names[i] == SeriesLoss && names[j] != SeriesLoss })
	colors := []color.Color{
		color.RGBA{31, 119, 180, 255}, color.RGBA{214, 39, 40, 255}, color.RGBA{44, 160, 44, 255},
		color.RGBA{148, 103, 189, 255}, color.RGBA{255, 127, 14, 255}, color.RGBA{140, 86, 75, 255},
	}
	ci := 0
	for _, s := range names {
		pts := c.series[s]
		if len(pts) == 0 {
			continue
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("curve %s: %w", s, err)
		}
		if s == SeriesLR {
			line.Color = color.Black
			bottom.Add(line)
			continue
		}
		line.Color = colors[ci%len(colors)]
		ci++
		top.Add(line)
		top.Legend.Add(s, line)
	}
	const w, h = 8 * vg.Inch, 7 * vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Centimeter / 2, PadTop: vg.Centimeter / 4, PadBottom: vg.Centimeter / 4, PadLeft: vg.Centimeter / 4, PadRight: vg.Centimeter / 4}
	canvases := plot.Align([][]*plot.Plot{{top}, {bottom}}, tiles, dc)
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])
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
