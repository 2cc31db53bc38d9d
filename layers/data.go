package layers

import (
	"errors"
	"fmt"
	"math/rand"
	"runtime"
	"strings"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("Data", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		return newDataLayer(p, ctx, "Data", int(p.GetDataParam().GetBatchSize()), nil)
	})
}

// Partial is implemented by data layers that know where the first pass over
// their source ends, so that feature extraction can visit every record of
// its shard exactly once although the layer itself wraps around forever
// (training loops over epochs):
//
//	for {
//		net.Forward()
//		n := p.ValidInBatch() // the first n items of the batch are new
//		use items [0, n)
//		if p.Exhausted() { break }
//	}
type Partial interface {
	// ValidInBatch is the number of leading items of the last batch that come
	// from the first pass over the source: the batch size until the source
	// wraps around, the remainder in the batch that wraps, 0 afterwards.
	ValidInBatch() int
	// Exhausted reports whether the first pass over the source has been
	// delivered completely by the last batch or an earlier one.
	Exhausted() bool
}

// DataLayer is Caffe's Data layer: it reads records from the source that
// Context.Sources opens for it (an LMDB shard, usually), transforms them
// with transform_param, and fills top[0] with a batch N×C×H×W and top[1]
// (optional) with the N labels. The item shape comes from the first record.
// At the end of the source it rewinds and continues (a new epoch), so a
// batch may span two epochs.
//
// Like Caffe's prefetching data layers, a goroutine fills the next batch
// into a second buffer while the net computes on the current one; once
// warm nothing is allocated per batch (for records that are not encoded
// images). Close stops the goroutine and closes the source.
type DataLayer struct {
	typ   string
	name  string
	ctx   *Context
	param *caffepb.LayerParameter
	batch int
	// fixed is the record shape required by the layer's parameters
	// (MemoryData), nil when the first record decides it (Data).
	fixed []int

	src       Source
	tf        *Transformer
	c, h, w   int // record shape, as decoded
	oc, oh, o int // item shape after the transform
	labels    bool

	dataShape, labelShape []int

	free, full chan *dataBatch
	quit, done chan struct{}
	sample     Sample // owned by the prefetch goroutine
	passes     int    // wrap-arounds so far (prefetch goroutine)
	inPass     int    // records read in the current pass (prefetch goroutine)

	keys      [][]byte // keys of the last delivered batch
	keyStrs   []string
	keysDirty bool
	fresh     int
	exhausted bool
	err       error // sticky: the prefetcher failed or the layer is closed
}

// dataBatch is one prefetch buffer.
type dataBatch struct {
	data      []float32
	label     []float32
	keys      [][]byte
	fresh     int
	exhausted bool
	err       error
}

var (
	_ Keyed   = (*DataLayer)(nil)
	_ Partial = (*DataLayer)(nil)
)

func newDataLayer(p *caffepb.LayerParameter, ctx *Context, typ string, batch int, fixed []int) (*DataLayer, error) {
	if batch <= 0 {
		field := "data_param.batch_size"
		if typ == "MemoryData" {
			field = "memory_data_param.batch_size"
		}
		return nil, fmt.Errorf("layer %q (%s): %s must be positive", p.GetName(), typ, field)
	}
	return &DataLayer{typ: typ, name: p.GetName(), ctx: ctx, param: p, batch: batch, fixed: fixed}, nil
}

// Type is "Data" or "MemoryData".
func (l *DataLayer) Type() string { return l.typ }

// Params is empty: a data layer learns nothing.
func (l *DataLayer) Params() []*Blob { return nil }

// Backward does nothing: nothing flows back into data.
func (l *DataLayer) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {}

// BatchSize is the number of items per batch.
func (l *DataLayer) BatchSize() int { return l.batch }

// Source is the record stream the layer reads.
func (l *DataLayer) Source() Source { return l.src }

func (l *DataLayer) errorf(format string, args ...any) error {
	return fmt.Errorf("layer %q (%s): %s", l.name, l.typ, fmt.Sprintf(format, args...))
}

// wrap names the layer in err unless err already does.
func (l *DataLayer) wrap(err error) error {
	if strings.Contains(err.Error(), fmt.Sprintf("layer %q", l.name)) {
		return err
	}
	return fmt.Errorf("layer %q (%s): %w", l.name, l.typ, err)
}

// Setup opens the source, reads the first record to learn the item shape,
// shapes the tops and starts prefetching.
func (l *DataLayer) Setup(bottom, top []*Blob) error {
	if len(bottom) != 0 {
		return l.errorf("takes no bottom blobs, got %d", len(bottom))
	}
	if len(top) < 1 || len(top) > 2 {
		return l.errorf("needs 1 or 2 top blobs (data, label), got %d", len(top))
	}
	l.labels = len(top) == 2
	if l.ctx == nil || l.ctx.Sources == nil {
		return l.errorf("no data source opener in the context")
	}
	phase := l.ctx.Phase
	seed := int64(1)
	if l.ctx.Rand != nil {
		seed = l.ctx.Rand.Int63()
	}
	// The prefetch goroutine gets its own random source: the net's is used
	// concurrently by other layers (Dropout) during Forward.
	tf, err := NewTransformer(l.param.GetTransformParam(), phase, rand.New(rand.NewSource(seed)), nil)
	if err != nil {
		return l.errorf("%v", err)
	}
	l.tf = tf
	src, err := l.ctx.Sources(l.param, phase)
	if err != nil {
		return l.wrap(err)
	}
	l.src = src
	if err := l.learnShape(); err != nil {
		src.Close()
		l.src = nil
		return err
	}
	n := l.batch
	per := l.oc * l.oh * l.o
	l.free = make(chan *dataBatch, 2)
	l.full = make(chan *dataBatch, 2)
	for i := 0; i < 2; i++ {
		b := &dataBatch{data: make([]float32, n*per), label: make([]float32, n), keys: make([][]byte, n)}
		l.free <- b
	}
	l.keys = make([][]byte, n)
	l.keyStrs = make([]string, n)
	l.quit = make(chan struct{})
	l.done = make(chan struct{})
	go l.prefetch()
	return l.Reshape(bottom, top)
}

// learnShape reads the first record (Caffe peeks at it the same way), then
// rewinds so the first batch starts with it.
func (l *DataLayer) learnShape() error {
	err := l.src.Next(&l.sample)
	if errors.Is(err, ErrEndOfData) {
		return l.errorf("source %s holds no records", l.src.Name())
	}
	if err != nil {
		return l.wrap(err)
	}
	c, h, w, err := l.tf.Prepare(&l.sample)
	if err != nil {
		return l.errorf("record %q of %s: %v", l.sample.Key, l.src.Name(), err)
	}
	if l.fixed != nil {
		l.c, l.h, l.w = l.fixed[0], l.fixed[1], l.fixed[2]
		if err := l.checkShape(c, h, w); err != nil {
			return err
		}
	} else {
		l.c, l.h, l.w = c, h, w
	}
	if l.oc, l.oh, l.o, err = l.tf.OutShape(l.c, l.h, l.w); err != nil {
		return l.errorf("%v", err)
	}
	if err := l.src.Rewind(); err != nil {
		return l.errorf("%v", err)
	}
	return nil
}

func (l *DataLayer) checkShape(c, h, w int) error {
	if c == l.c && h == l.h && w == l.w {
		return nil
	}
	// With a crop, Caffe only needs every record to hold the crop window
	// (Transformer.Apply checks that), so sizes may vary: e.g. encoded
	// images of different sizes cropped to one size.
	if l.fixed == nil && l.tf.crop > 0 && c == l.c {
		return nil
	}
	want := "the first record's"
	if l.fixed != nil {
		want = "memory_data_param's"
	}
	return l.errorf("record %q of %s has shape %d×%d×%d, but %s is %d×%d×%d",
		l.sample.Key, l.src.Name(), c, h, w, want, l.c, l.h, l.w)
}

// Reshape gives the tops the batch shape (it never changes).
func (l *DataLayer) Reshape(bottom, top []*Blob) error {
	// Passing stored slices keeps the variadic Blob.Reshape from allocating
	// its argument on every call.
	if l.dataShape == nil {
		l.dataShape = []int{l.batch, l.oc, l.oh, l.o}
		l.labelShape = []int{l.batch}
	}
	if !top[0].ShapeEquals(l.dataShape) {
		top[0].Reshape(l.dataShape...)
	}
	if l.labels && !top[1].ShapeEquals(l.labelShape) {
		top[1].Reshape(l.labelShape...)
	}
	return nil
}

// prefetch fills free buffers until told to quit or a read fails.
func (l *DataLayer) prefetch() {
	defer close(l.done)
	for {
		select {
		case <-l.quit:
			return
		case b := <-l.free:
			l.fill(b)
			l.full <- b // never blocks: at most two buffers exist
			if b.err != nil {
				return
			}
		}
	}
}

// fill reads one batch into b, wrapping around at the end of the source.
func (l *DataLayer) fill(b *dataBatch) {
	b.fresh, b.err = 0, nil
	per := l.oc * l.oh * l.o
	for i := 0; i < l.batch; i++ {
		err := l.src.Next(&l.sample)
		if errors.Is(err, ErrEndOfData) {
			l.passes++
			l.inPass = 0
			if err = l.src.Rewind(); err == nil {
				err = l.src.Next(&l.sample)
				if errors.Is(err, ErrEndOfData) {
					b.err = l.errorf("source %s holds no records", l.src.Name())
					return
				}
			}
		}
		if err != nil {
			b.err = l.wrap(err)
			return
		}
		l.inPass++
		if l.passes == 0 {
			b.fresh++
		}
		c, h, w, err := l.tf.Prepare(&l.sample)
		if err != nil {
			b.err = l.errorf("record %q of %s: %v", l.sample.Key, l.src.Name(), err)
			return
		}
		if err := l.checkShape(c, h, w); err != nil {
			b.err = err
			return
		}
		if err := l.tf.Apply(b.data[i*per : (i+1)*per]); err != nil {
			b.err = l.errorf("record %q of %s: %v", l.sample.Key, l.src.Name(), err)
			return
		}
		b.label[i] = l.sample.Label
		b.keys[i] = append(b.keys[i][:0], l.sample.Key...)
	}
	b.exhausted = l.passes > 0 || l.inPass == l.src.Len()
}

// Forward delivers the prefetched batch and lets the next one be filled.
func (l *DataLayer) Forward(bottom, top []*Blob) error {
	if l.err != nil {
		return l.err
	}
	if l.full == nil {
		return l.errorf("Forward before Setup")
	}
	b := <-l.full
	if b.err != nil {
		l.err = b.err
		return b.err
	}
	if err := l.Reshape(bottom, top); err != nil {
		return err
	}
	copy(top[0].Data, b.data)
	if l.labels {
		copy(top[1].Data, b.label)
	}
	// Swap rather than copy: the delivered keys stay valid until the next
	// Forward, and the buffer gets the previous slices to overwrite.
	l.keys, b.keys = b.keys, l.keys
	l.keysDirty = true
	l.fresh, l.exhausted = b.fresh, b.exhausted
	l.free <- b
	// With one P (an executor pinned to one core) the prefetch goroutine
	// runs only when this one stops: when Forward finds no batch ready, or
	// when the scheduler preempts training at a random layer of a random
	// step. Either way some steps take 100-250 µs longer than others, and
	// in synchronous training every executor waits for whichever one was
	// hit. Handing over the CPU here fills the next batch at the same point
	// of every step (measured on LeNet: the standard deviation of a step
	// 245 -> 160 µs; two lock-step executors' barrier waits together 19% ->
	// 14% of their forward-backward time).
	// The scheduler may run something else first (it takes the yielding
	// goroutine back early now and then, for fairness), hence a few tries.
	if runtime.GOMAXPROCS(0) == 1 {
		for try := 0; try < 4 && len(l.full) < cap(l.full); try++ {
			runtime.Gosched()
		}
	}
	return nil
}

// Keys returns the keys of the records of the last batch. It allocates the
// strings on first call after each Forward, so only callers that need keys
// (feature extraction) pay for them.
func (l *DataLayer) Keys() []string {
	if l.keysDirty {
		for i, k := range l.keys {
			l.keyStrs[i] = string(k)
		}
		l.keysDirty = false
	}
	return l.keyStrs
}

// ValidInBatch implements Partial.
func (l *DataLayer) ValidInBatch() int { return l.fresh }

// Exhausted implements Partial.
func (l *DataLayer) Exhausted() bool { return l.exhausted }

// Close stops prefetching and closes the source. Forward fails afterwards.
func (l *DataLayer) Close() error {
	if l.quit == nil {
		return nil
	}
	close(l.quit)
	<-l.done
	l.quit = nil
	if l.err == nil {
		l.err = l.errorf("layer closed")
	}
	return l.src.Close()
}
