package ledger

import (
	"strings"
	"unsafe"

	"github.com/aigateway/gateway/engine/store"
)

// chunkRows is the number of rows of a queue chunk, arenaBytes the size
// of its string arena (about 128 bytes of strings per row; a row that does
// not fit starts a new chunk, one larger than a whole arena is copied with
// an allocation).
const (
	chunkRows  = 256
	arenaBytes = chunkRows * 128
)

// maxFreeChunks bounds the chunks kept for reuse.
const maxFreeChunks = 64

type chunk struct {
	rows  [chunkRows]store.UsageRow
	n     int
	arena []byte
}

// fits reports whether a row with need bytes of strings goes in c.
func (c *chunk) fits(need int) bool {
	return c.n < chunkRows && (need > arenaBytes || len(c.arena)+need <= cap(c.arena))
}

// add copies r, its strings into the arena.
func (c *chunk) add(r *store.UsageRow, need int) {
	row := &c.rows[c.n]
	*row = *r
	c.n++
	if need > arenaBytes {
		for _, f := range stringFields(row) {
			*f = strings.Clone(*f)
		}
		return
	}
	for _, f := range stringFields(row) {
		if len(*f) == 0 {
			continue
		}
		start := len(c.arena)
		c.arena = append(c.arena, *f...)
		*f = unsafe.String(&c.arena[start], len(*f))
	}
}

// reset empties c for reuse: no string of its arena may be referenced any
// more.
func (c *chunk) reset() {
	clear(c.rows[:c.n])
	c.n = 0
	c.arena = c.arena[:0]
}

// stringFields are a row's strings, in one place so that none is missed.
func stringFields(r *store.UsageRow) [10]*string {
	return [10]*string{&r.ID, &r.ProjectID, &r.KeyID, &r.Endpoint, &r.RequestedModel, &r.ServedModel,
		&r.Provider, &r.ErrorCode, &r.Cache, &r.RouteReason}
}

func stringBytes(r *store.UsageRow) int {
	n := 0
	for _, f := range stringFields(r) {
		n += len(*f)
	}
	return n
}
