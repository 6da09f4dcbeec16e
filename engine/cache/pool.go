package cache

import "sync"

// typedPool is a sync.Pool of *T.
type typedPool[T any] struct{ p sync.Pool }

func syncPool[T any](newT func() *T) *typedPool[T] {
	tp := &typedPool[T]{}
	tp.p.New = func() any { return newT() }
	return tp
}

// Get returns a pooled or new *T.
func (p *typedPool[T]) Get() *T { return p.p.Get().(*T) }

// Put returns t to the pool.
func (p *typedPool[T]) Put(t *T) { p.p.Put(t) }
