package limits

import "time"

// clock turns a time source into nanoseconds since the clock's creation.
// With time.Now the difference uses the monotonic reading, so wall-clock
// steps move no window; tests inject a fake source.
type clock struct {
	now   func() time.Time
	epoch time.Time
}

func newClock(now func() time.Time) clock {
	if now == nil {
		now = time.Now
	}
	return clock{now: now, epoch: now()}
}

// nanos is never zero or negative, so that a zero timestamp can mean "never".
func (c clock) nanos() int64 {
	n := int64(c.now().Sub(c.epoch))
	if n < 1 {
		return 1
	}
	return n + 1
}
