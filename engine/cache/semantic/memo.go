package semantic

import (
	"sync"
)

// vecMemo keeps the vectors of recent missed lookups for Store, so that a
// remote embedder is called once per turn, not twice.
type vecMemo struct {
	mu sync.Mutex
	m  map[[16]byte][]float32
}

const memoSize = 256

func (m *vecMemo) put(id [16]byte, v []float32) {
	m.mu.Lock()
	if len(m.m) >= memoSize {
		for k := range m.m { // any one: a forgotten vector is recomputed
			delete(m.m, k)
			break
		}
	}
	m.m[id] = v
	m.mu.Unlock()
}

func (m *vecMemo) take(id [16]byte) []float32 {
	m.mu.Lock()
	v := m.m[id]
	delete(m.m, id)
	m.mu.Unlock()
	return v
}
