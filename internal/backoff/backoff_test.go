package backoff

import (
	"testing"
	"time"
)

func TestPeriodsDoubleAndAProbeRestores(t *testing.T) {
	b := Backoff{Min: 20 * time.Millisecond, Max: 50 * time.Millisecond}
	if !b.Allow() || !b.Healthy() {
		t.Fatal("a new Backoff is not healthy")
	}
	b.Fail()
	if b.Allow() || b.Healthy() {
		t.Fatal("allowed during the period")
	}
	b.Fail() // in flight when the period began: no longer period
	if got := b.Period(); got != 20*time.Millisecond {
		t.Fatalf("period %v after an in-flight failure, want 20ms", got)
	}
	waitAllow(t, &b)
	if b.Allow() {
		t.Fatal("a second probe was let through")
	}
	b.Fail() // the probe failed: the period doubles
	if got := b.Period(); got != 40*time.Millisecond {
		t.Fatalf("period %v, want 40ms", got)
	}
	waitAllow(t, &b)
	b.Fail()
	if got := b.Period(); got != 50*time.Millisecond {
		t.Fatalf("period %v, want the 50ms cap", got)
	}
	waitAllow(t, &b)
	b.OK()
	if !b.Healthy() || !b.Allow() || !b.Allow() {
		t.Fatal("a successful probe did not restore the dependency")
	}
	b.Fail()
	if got := b.Period(); got != 20*time.Millisecond {
		t.Fatalf("period %v after recovery, want Min again", got)
	}
}

// waitAllow polls until the probe is let through (the period has ended).
func waitAllow(t *testing.T, b *Backoff) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !b.Allow() {
		if time.Now().After(deadline) {
			t.Fatal("the period never ended")
		}
		time.Sleep(time.Millisecond)
	}
}
