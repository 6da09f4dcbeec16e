//go:build !linux

package load

import "time"

// timer falls back to Go's timers (about 1 ms of wake-up slack).
type timer struct{}

func newTimer() *timer { return &timer{} }

func (t *timer) sleep(d time.Duration) { time.Sleep(d) }

func (t *timer) close() {}
