package main

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestAppendScore: the short path formats every value as strconv does:
// each hundredth, the midpoints between them and their neighbouring
// floats, values outside [0, 1], and a million random ones.
func TestAppendScore(t *testing.T) {
	var fs []float64
	for k := -2; k <= 202; k++ {
		for _, v := range []float64{float64(k) / 100, (float64(k) + .5) / 100, float64(k) / 1000} {
			fs = append(fs, v, math.Nextafter(v, -1), math.Nextafter(v, 2))
		}
	}
	fs = append(fs, 0, math.Copysign(0, -1), 1, 0x1p-10, math.Nextafter(0x1p-10, 0), 0.005, 0.015, 0.125, 0.375,
		math.SmallestNonzeroFloat64, 1.5, -0.5, 100, math.Inf(1), math.Inf(-1), math.NaN())
	r := rand.New(rand.NewPCG(7, 8))
	for range 1_000_000 {
		fs = append(fs, r.Float64())
	}
	for _, f := range fs {
		want := strconv.AppendFloat(nil, f, 'f', 2, 64)
		if got := appendScore(nil, f); string(got) != string(want) {
			t.Fatalf("appendScore(%v) = %s, strconv %s", f, got, want)
		}
	}
}
