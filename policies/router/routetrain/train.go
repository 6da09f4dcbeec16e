package routetrain

import (
	"errors"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/aigateway/gateway/policies/router/routemodel"
)

// Options configure Train.
type Options struct {
	// Bits is the hash width (2^Bits weights); 0 means 14.
	Bits uint8
	// Epochs over the training set; 0 means 10.
	Epochs int
	// Rate is AdaGrad's step; 0 means 0.2.
	Rate float64
	// L2 is the weight decay per step; 0 means 1e-3.
	L2 float64
	// Seed orders the epochs; the same data and seed give the same weights.
	Seed uint64
	// StrongShare picks the model's default threshold: the score quantile
	// that sends this share of the training prompts to the strong tier;
	// 0 means 0.5.
	StrongShare float64
	// Note is stored in the weights file.
	Note string
	// LengthPrior is added to the logit per octave of the last user
	// message's length (routemodel.LengthBin), on top of what the data
	// taught: a longer request more often needs the strong model. The
	// data cannot unlearn it, so it carries knowledge the training prompts
	// lack (docs/routing.md); 0 means none.
	LengthPrior float64
	// TextOnly leaves the shape features out of training (their weights
	// stay 0 but for the length prior): on prompts unlike the training
	// data, shape weights learned from one kind of prompt mislead more
	// than they help (docs/routing.md).
	TextOnly bool
	// LengthPriorFrom, when above 0, makes the length prior one-sided: 0
	// up to this many bytes, LengthPrior per octave beyond. Chat prompts
	// are mostly short and their length says little; a long question
	// more often defeats the weak model (docs/routing.md). 0: the prior
	// is linear on both sides of about 128 bytes.
	LengthPriorFrom int
}

// lengthPriorZero is the LengthBin bucket where the length prior is 0
// (about 128 bytes), so that the logits of common lengths stay where
// the training put them and far from saturating.
const lengthPriorZero = 28

type example struct {
	text, shape []uint32
	y           float64
}

// Train fits the router's logistic model on recs with AdaGrad and L2:
// deterministic for a seed, seconds for tens of thousands of prompts.
func Train(recs []Record, o Options) (*routemodel.Model, error) {
	if len(recs) == 0 {
		return nil, errors.New("no training prompts")
	}
	if o.Bits == 0 {
		o.Bits = 14
	}
	if o.Bits < routemodel.MinBits || o.Bits > routemodel.MaxBits {
		return nil, errors.New("bits outside [8, 20]")
	}
	if o.Epochs == 0 {
		o.Epochs = 10
	}
	if o.Rate == 0 {
		o.Rate = 0.2
	}
	if o.L2 == 0 {
		o.L2 = 1e-3
	}
	if o.StrongShare == 0 {
		o.StrongShare = 0.5
	}
	if len(o.Note) > routemodel.MaxNote {
		o.Note = o.Note[:routemodel.MaxNote]
	}
	ex := make([]example, len(recs))
	var s routemodel.Scratch
	for i := range recs {
		t, sh := s.Features(&recs[i].Input, uint(o.Bits))
		if o.TextOnly {
			sh = nil
		}
		ex[i] = example{append([]uint32(nil), t...), append([]uint32(nil), sh...), recs[i].Label()}
	}
	n := 1 << o.Bits
	w := make([]float64, n)
	g2 := make([]float64, n)
	var bias, bg2 float64
	rng := rand.New(rand.NewPCG(o.Seed, 0x726f75746572))
	order := make([]int, len(ex))
	for i := range order {
		order[i] = i
	}
	step := func(i int, g float64) {
		g += o.L2 * w[i]
		g2[i] += g * g
		w[i] -= o.Rate * g / (math.Sqrt(g2[i]) + 1e-8)
	}
	for e := 0; e < o.Epochs; e++ {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, k := range order {
			x := &ex[k]
			z := bias
			var t float64
			for _, i := range x.text {
				t += w[i]
			}
			norm := 0.0
			if len(x.text) > 0 {
				norm = 1 / math.Sqrt(float64(len(x.text)))
			}
			z += t * norm
			for _, i := range x.shape {
				z += w[i]
			}
			g := routemodel.Prob(z) - x.y
			bg2 += g * g
			bias -= o.Rate * g / (math.Sqrt(bg2) + 1e-8)
			for _, i := range x.text {
				step(int(i), g*norm)
			}
			for _, i := range x.shape {
				step(int(i), g)
			}
		}
	}
	m := &routemodel.Model{Bits: o.Bits, Bias: float32(bias), Note: o.Note, W: make([]float32, n)}
	for i := range w {
		m.W[i] = float32(w[i])
	}
	if o.LengthPrior != 0 {
		mask := uint32(n - 1)
		zero := lengthPriorZero
		if o.LengthPriorFrom > 0 {
			zero = routemodel.LengthBucket(o.LengthPriorFrom)
		}
		for b := 0; b < routemodel.LengthBuckets; b++ {
			d := b - zero
			if o.LengthPriorFrom > 0 {
				d = max(d, 0)
			}
			m.W[routemodel.LengthBucketBin(b, mask)] += float32(o.LengthPrior * float64(d) / 4)
		}
	}
	SetThreshold(m, recs, o.StrongShare)
	return m, nil
}

// SetThreshold sets m's default threshold to the score quantile that sends
// share of recs to the strong tier. It reads scores only, never labels, so
// calibrating on held-out prompts leaks nothing of their outcomes (training
// scores are optimistic: the model has seen those prompts).
func SetThreshold(m *routemodel.Model, recs []Record, share float64) {
	ps := Scores(m, recs)
	sort.Float64s(ps)
	k := int(float64(len(ps)) * (1 - share))
	k = min(max(k, 0), len(ps)-1)
	m.Threshold = float32(min(max(ps[k], 1e-4), 1-1e-4))
}

// SetThresholdMixed sets m's default threshold so that, averaged over the
// sets with equal weight, share of the prompts go to the strong tier: a
// set of chat prompts and a set of benchmark questions count the same
// however many prompts each has. Scores only, never labels.
func SetThresholdMixed(m *routemodel.Model, sets [][]Record, share float64) {
	scores := make([][]float64, 0, len(sets))
	for _, s := range sets {
		if len(s) > 0 {
			scores = append(scores, Scores(m, s))
		}
	}
	if len(scores) == 0 {
		return
	}
	strong := func(t float64) float64 {
		f := 0.0
		for _, ps := range scores {
			k := 0
			for _, p := range ps {
				if p >= t {
					k++
				}
			}
			f += float64(k) / float64(len(ps))
		}
		return f / float64(len(scores))
	}
	lo, hi := 1e-4, 1-1e-4 // strong(lo) >= strong(hi)
	for i := 0; i < 60; i++ {
		mid := (lo + hi) / 2
		if strong(mid) > share {
			lo = mid
		} else {
			hi = mid
		}
	}
	// Rounded up: a float32 below hi would send the scores just under it
	// to strong.
	t := float32(hi)
	if float64(t) < hi {
		t = math.Nextafter32(t, 1)
	}
	m.Threshold = t
}

// Scores returns the model's P(strong needed) for each record.
func Scores(m *routemodel.Model, recs []Record) []float64 {
	var s routemodel.Scratch
	out := make([]float64, len(recs))
	for i := range recs {
		out[i] = m.Predict(&recs[i].Input, &s)
	}
	return out
}
