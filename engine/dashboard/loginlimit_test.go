package dashboard

import (
	"net"
	"strconv"
	"testing"
	"time"
)

func TestLoginLimiter(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_000_000, 0)
	tests := []struct {
		name string
		run  func(t *testing.T, l *loginLimiter)
	}{
		{"burst then refused until one refills", func(t *testing.T, l *loginLimiter) {
			for i := range 3 {
				if ok, _ := l.take("a", t0); !ok {
					t.Fatalf("attempt %d refused", i+1)
				}
			}
			ok, retry := l.take("a", t0)
			if ok || retry != 10*time.Second {
				t.Fatalf("4th attempt: ok %v retry %v", ok, retry)
			}
			if ok, retry := l.take("a", t0.Add(4*time.Second)); ok || retry != 6*time.Second {
				t.Fatalf("4 s later: ok %v retry %v", ok, retry)
			}
			if ok, _ := l.take("a", t0.Add(10*time.Second)); !ok {
				t.Fatal("refused after a refill")
			}
			// Another address is not affected.
			if ok, _ := l.take("b", t0); !ok {
				t.Fatal("another address refused")
			}
		}},
		{"a success gives its attempt back", func(t *testing.T, l *loginLimiter) {
			for range 10 {
				if ok, _ := l.take("a", t0); !ok {
					t.Fatal("refused")
				}
				l.refund("a")
			}
		}},
		{"bounded: refilled addresses dropped, then an overflow bucket", func(t *testing.T, l *loginLimiter) {
			for i := range 4 {
				l.take("addr"+strconv.Itoa(i), t0) // the 4th goes to the overflow bucket
			}
			if n := l.tracked(); n != 3 {
				t.Fatalf("tracked %d, want 3", n)
			}
			// New addresses share the overflow bucket while the table is full
			// of draining ones: 3 attempts between them, then refused.
			l.take("x1", t0)
			l.take("x2", t0)
			if ok, _ := l.take("x3", t0); ok {
				t.Fatal("the overflow bucket gave a 4th attempt")
			}
			// Once the tracked ones have refilled, they make room.
			if ok, _ := l.take("late", t0.Add(time.Minute)); !ok || l.tracked() != 1 {
				t.Fatalf("after a refill: ok %v tracked %d", ok, l.tracked())
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newLoginLimiter(3, 10*time.Second, 3))
		})
	}
}

func TestAddrKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ ip, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"},
	} {
		if got := addrKey(net.ParseIP(tc.ip)); got != tc.want {
			t.Errorf("addrKey(%s) = %s, want %s", tc.ip, got, tc.want)
		}
	}
}
