package layers

import (
	"fmt"
	"sort"
	"sync"
)

var (
	registryMu sync.RWMutex
	registry   = map[string]Constructor{}
)

// Register adds a constructor under Caffe's type string. Layer files call it
// from init; registering a type twice is a programming error.
func Register(typ string, c Constructor) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[typ]; dup {
		panic("layers: type registered twice: " + typ)
	}
	registry[typ] = c
}

// Lookup returns the constructor of a type, or an error: for a Caffe type cos
// does not implement, one saying so with what to do instead; otherwise one
// listing the known types.
func Lookup(typ string) (Constructor, error) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	if c, ok := registry[typ]; ok {
		return c, nil
	}
	if hint, ok := unsupported[typ]; ok {
		return nil, fmt.Errorf("layer type %q is not supported by cos: %s", typ, hint)
	}
	return nil, fmt.Errorf("unknown layer type %q (known types: %v)", typ, typesLocked())
}

// Types lists the registered type strings, sorted.
func Types() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	return typesLocked()
}

func typesLocked() []string {
	t := make([]string, 0, len(registry))
	for k := range registry {
		t = append(t, k)
	}
	sort.Strings(t)
	return t
}
