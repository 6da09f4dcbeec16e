package store

import (
	"testing"
	"time"
)

func TestPeriodStart(t *testing.T) {
	loc := time.FixedZone("UTC+9", 9*3600)
	for _, tc := range []struct {
		name, period string
		now, want    time.Time
	}{
		{"month", PeriodMonth, time.Date(2026, 3, 31, 23, 59, 0, 0, time.UTC), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"default is month", "", time.Date(2026, 3, 14, 1, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"day", PeriodDay, time.Date(2026, 3, 14, 23, 59, 59, 0, time.UTC), time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)},
		// 1 April 08:00 in UTC+9 is still 31 March in UTC.
		{"UTC boundary", PeriodMonth, time.Date(2026, 4, 1, 8, 0, 0, 0, loc), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Project{BudgetPeriod: tc.period}
			if got := p.PeriodStart(tc.now); !got.Equal(tc.want) || got.Location() != time.UTC {
				t.Fatalf("PeriodStart(%v) = %v, want %v", tc.now, got, tc.want)
			}
		})
	}
}

func TestKeyUsable(t *testing.T) {
	now := t0
	for _, tc := range []struct {
		name string
		k    Key
		want bool
	}{
		{"plain", Key{}, true},
		{"expires later", Key{ExpiresAt: now.Add(time.Second)}, true},
		{"expires now", Key{ExpiresAt: now}, false},
		{"revoked", Key{RevokedAt: now.Add(-time.Hour)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.k.Usable(now); got != tc.want {
				t.Fatalf("Usable = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSavingsTotal(t *testing.T) {
	s := Savings{ResponseCache: 1, ProviderPromptCache: 0.5, IDEBoilerplate: 0.25, FileDedup: 0.125, Routing: 2}
	if got := s.Total(); got != 3.875 {
		t.Fatalf("Total = %v", got)
	}
}

func TestSecrets(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		s := newKeySecret()
		if len(s) != len(KeySecretPrefix)+43 || seen[s] {
			t.Fatalf("secret %q (seen before: %v)", s, seen[s])
		}
		for _, c := range s[len(KeySecretPrefix):] {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				t.Fatalf("secret %q has %q", s, c)
			}
		}
		seen[s] = true
	}
}

// FuzzCursor: a cursor comes from a query string; decoding never panics,
// and every cursor the store encodes decodes to what it encoded.
func FuzzCursor(f *testing.F) {
	f.Add(encodeCursor(t0, "req_1"))
	f.Add("")
	f.Add("%%%")
	f.Add("AAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, c string) {
		tm, id, err := decodeCursor(c)
		if err != nil {
			return
		}
		if got := encodeCursor(tm, id); got != c {
			// Non-canonical base64 may decode; re-encoding must still decode
			// to the same position.
			tm2, id2, err := decodeCursor(got)
			if err != nil || !tm2.Equal(tm) || id2 != id {
				t.Fatalf("re-encoded %q → %v %q %v", got, tm2, id2, err)
			}
		}
	})
}
