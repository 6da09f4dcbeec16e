package redistest

import (
	"context"
	"strconv"
	"strings"
	"testing"
)

// A server whose port another test's redis-server took first does not
// mistake that server for its own: its first start moves to another port.
func TestStartSkipsAPortAnotherServerHolds(t *testing.T) {
	a := Start(t)
	b := &Server{t: t, bin: a.bin, Port: a.Port, dir: t.TempDir()}
	b.Restart()
	t.Cleanup(b.Stop)
	if b.Port == a.Port {
		t.Fatalf("both servers claim port %d", a.Port)
	}
	for _, s := range []*Server{a, b} {
		c := s.Client()
		info, err := c.Info(context.Background(), "server").Result()
		c.Close()
		if err != nil || !strings.Contains(info, "tcp_port:"+strconv.Itoa(s.Port)) {
			t.Fatalf("server on %d: %v %q", s.Port, err, info)
		}
	}
}
