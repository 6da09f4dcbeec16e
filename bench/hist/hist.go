// Package hist is a log-linear latency histogram in the manner of
// HdrHistogram: exact below 128 ns, then 64 linear sub-buckets per power of
// two, so that any recorded value is reported within 0.8% (the bucket's
// midpoint) from 1 ns to the largest uint64.
//
// # Notes
//
// A Histogram is not safe for concurrent use: give each goroutine its own and
// Merge them at the end. Record allocates nothing.
package hist

import (
	"math"
	"math/bits"
	"time"
)

const (
	subBits    = 7
	subCount   = 1 << subBits // exact values below this
	half       = subCount / 2 // linear sub-buckets per octave above it
	numBuckets = subCount + (64-subBits)*half
)

// Histogram counts durations in nanoseconds.
type Histogram struct {
	counts   [numBuckets]uint64
	count    uint64
	sum      float64
	min, max uint64
}

// New returns an empty Histogram.
func New() *Histogram { return &Histogram{min: math.MaxUint64} }

// index maps v to its bucket.
func index(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits
	return subCount + (shift-1)*half + int(v>>uint(shift)) - half
}

// bounds returns the smallest value of bucket i and the bucket's width.
func bounds(i int) (lo, width uint64) {
	if i < subCount {
		return uint64(i), 1
	}
	j := i - subCount
	shift := uint(j/half + 1)
	return uint64(j%half+half) << shift, 1 << shift
}

// Record adds one duration; negative durations count as 0.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.RecordValue(uint64(d))
}

// RecordValue adds one value in nanoseconds.
func (h *Histogram) RecordValue(v uint64) {
	h.counts[index(v)]++
	h.count++
	h.sum += float64(v)
	if v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
}

// Merge adds every value recorded in o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.count == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.count += o.count
	h.sum += o.sum
	if o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
}

// Reset empties h.
func (h *Histogram) Reset() { *h = Histogram{min: math.MaxUint64} }

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.count }

// Min is the smallest recorded value (0 when empty).
func (h *Histogram) Min() time.Duration {
	if h.count == 0 {
		return 0
	}
	return time.Duration(h.min)
}

// Max is the largest recorded value.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean is the exact arithmetic mean.
func (h *Histogram) Mean() time.Duration {
	if h.count == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.count))
}

// Quantile returns the value at quantile q (0..1): the midpoint of the
// bucket holding the ceil(q*count)-th smallest value, clamped to the exact
// minimum and maximum. An empty histogram answers 0.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	if q <= 0 {
		return time.Duration(h.min)
	}
	if q >= 1 {
		return time.Duration(h.max)
	}
	rank := uint64(math.Ceil(q * float64(h.count)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		if c == 0 {
			continue
		}
		seen += c
		if seen >= rank {
			lo, w := bounds(i)
			v := lo + (w-1)/2
			if v < h.min {
				v = h.min
			}
			if v > h.max {
				v = h.max
			}
			return time.Duration(v)
		}
	}
	return time.Duration(h.max)
}

// Summary is a histogram's JSON form, in microseconds.
type Summary struct {
	Count uint64  `json:"count"`
	Min   float64 `json:"min_us"`
	Mean  float64 `json:"mean_us"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p999_us"`
	Max   float64 `json:"max_us"`
}

// Summarize reduces h to its Summary.
func (h *Histogram) Summarize() Summary {
	us := func(d time.Duration) float64 { return math.Round(float64(d)/10) / 100 }
	return Summary{
		Count: h.count,
		Min:   us(h.Min()),
		Mean:  us(h.Mean()),
		P50:   us(h.Quantile(0.50)),
		P90:   us(h.Quantile(0.90)),
		P99:   us(h.Quantile(0.99)),
		P999:  us(h.Quantile(0.999)),
		Max:   us(h.Max()),
	}
}
