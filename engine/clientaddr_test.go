package engine

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/aigateway/gateway/engine/dashboard"
	"github.com/valyala/fasthttp"
)

// TestClientAddr: X-Forwarded-For is read only from a trusted peer, from
// the right, up to the first address that is not a trusted proxy; what a
// client wrote further left, or a hop that is not an address, is ignored.
func TestClientAddr(t *testing.T) {
	trusted, err := parseTrustedProxies([]string{"10.0.0.0/8", "127.0.0.1", "2001:db8:1::/48"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		trusted bool // the trusted list, or none
		peer    string
		xff     []string // header lines
		want    string
	}{
		{"no list: the peer", false, "127.0.0.1", []string{"203.0.113.9"}, "127.0.0.1"},
		{"untrusted peer: header ignored", true, "198.51.100.7", []string{"203.0.113.9"}, "198.51.100.7"},
		{"trusted peer, one hop", true, "127.0.0.1", []string{"203.0.113.9"}, "203.0.113.9"},
		{"trusted peer, no header", true, "127.0.0.1", nil, "127.0.0.1"},
		{"spoofed left entry ignored", true, "10.1.2.3", []string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9"},
		{"two trusted hops", true, "10.1.2.3", []string{"198.51.100.1, 203.0.113.9, 10.9.9.9"}, "203.0.113.9"},
		{"several header lines are one list", true, "10.1.2.3", []string{"198.51.100.1", "203.0.113.9, 10.9.9.9"}, "203.0.113.9"},
		{"garbage hop stops the walk", true, "10.1.2.3", []string{"203.0.113.9, unknown, 10.0.0.5"}, "10.0.0.5"},
		{"all trusted: the leftmost", true, "10.1.2.3", []string{"10.0.0.1, 10.0.0.2"}, "10.0.0.1"},
		{"ports stripped", true, "10.1.2.3", []string{"203.0.113.9:5555"}, "203.0.113.9"},
		{"IPv6 with port", true, "10.1.2.3", []string{"[2001:db8:2::5]:443"}, "2001:db8:2::5"},
		{"IPv6 trusted peer", true, "2001:db8:1::9", []string{"2001:db8:2::5"}, "2001:db8:2::5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req fasthttp.Request
			for _, v := range tc.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			var ctx fasthttp.RequestCtx
			ctx.Init(&req, &net.TCPAddr{IP: net.ParseIP(tc.peer), Port: 40000}, nil)
			list := trusted
			if !tc.trusted {
				list = nil
			}
			if got := clientAddr(list, &ctx).String(); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
	if _, err := parseTrustedProxies([]string{"10.0.0.0/8", "proxy.internal"}); err == nil || !strings.Contains(err.Error(), "proxy.internal") {
		t.Fatalf("a host name: %v", err)
	}
}

// TestLoginLimitBehindProxy: behind a trusted proxy, the dashboard's login
// limit counts per client (X-Forwarded-For): one client locked out leaves
// another able to log in, and the audit names the client. Without
// trusted_proxies, the header is ignored: every client behind the proxy is
// one address.
func TestLoginLimitBehindProxy(t *testing.T) {
	t.Parallel()
	run := func(t *testing.T, toml string) (other int, audit string) {
		g := startGateway(t, toml, map[string]string{"GATEWAY_ADMIN_KEY": adminKey})
		login := func(key, from string) int {
			resp, _ := dashReq(t, g, "POST", "/admin/login", `{"key":"`+key+`"}`, map[string]string{"X-Forwarded-For": from})
			return resp.StatusCode
		}
		for i := range dashboard.DefaultLoginBurst {
			if code := login("guess-"+strconv.Itoa(i), "203.0.113.5"); code != 401 {
				t.Fatalf("guess %d: %d", i+1, code)
			}
		}
		if code := login(adminKey, "203.0.113.5"); code != 429 {
			t.Fatalf("the guessing client after its burst: %d", code)
		}
		_, audit = g.do(t, "GET", "/admin/audit?action=login.failed&limit=100", nil, nil)
		return login(adminKey, "198.51.100.6"), audit
	}
	t.Run("trusted", func(t *testing.T) {
		other, audit := run(t, `trusted_proxies = ["127.0.0.1/32"]`+"\n")
		if other != 200 {
			t.Fatalf("another client behind the proxy: %d, want 200", other)
		}
		if !strings.Contains(audit, `"target":"203.0.113.5"`) {
			t.Fatalf("audit does not name the client: %s", audit)
		}
	})
	t.Run("untrusted", func(t *testing.T) {
		if other, _ := run(t, ""); other != 429 {
			t.Fatalf("without trusted_proxies the header must not count: %d, want 429", other)
		}
	})
}
