package engine

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/valyala/fasthttp"
)

// The client's address behind load balancers. A proxy in front of the
// gateway makes every connection come from the proxy; the client is then
// named by X-Forwarded-For, which each proxy appends its peer to. Anyone can
// send that header, so it is read only from a peer the operator listed in
// trusted_proxies, and only as far back as the trusted hops go: walking the
// list from the right, the first address that is not a trusted proxy is the
// client (what the closest untrusted party said it connected from; anything
// further left it could have written itself).

// parseTrustedProxies reads trusted_proxies: IP addresses and CIDR prefixes.
func parseTrustedProxies(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted_proxies: %q is neither an IP address nor a CIDR prefix", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// isTrusted reports whether a is one of the configured proxies.
func isTrusted(trusted []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the address of the client that sent ctx's request: the
// peer, unless the peer is a trusted proxy and X-Forwarded-For names who it
// forwarded for.
func clientAddr(trusted []netip.Prefix, ctx *fasthttp.RequestCtx) net.IP {
	peer := ctx.RemoteIP()
	if len(trusted) == 0 {
		return peer
	}
	a, ok := netip.AddrFromSlice(peer)
	if !ok || !isTrusted(trusted, a) {
		return peer
	}
	// Several X-Forwarded-For lines are one list, in order (RFC 9110
	// §5.3); walk it from the last entry.
	var hops [][]byte
	for _, v := range ctx.Request.Header.PeekAll("X-Forwarded-For") {
		hops = append(hops, bytes.Split(v, []byte{','})...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		h, err := netip.ParseAddr(forwardedHost(string(bytes.TrimSpace(hops[i]))))
		if err != nil {
			// A hop the proxies wrote is an address; anything else was
			// sent by the client: stop at the last good one.
			break
		}
		client = net.IP(h.Unmap().AsSlice())
		if !isTrusted(trusted, h) {
			break
		}
	}
	return client
}

// forwardedHost strips a port some proxies append to a hop: "1.2.3.4:5678",
// "[2001:db8::1]:443".
func forwardedHost(h string) string {
	if strings.HasPrefix(h, "[") {
		if end := strings.IndexByte(h, ']'); end > 0 {
			return h[1:end]
		}
		return h
	}
	if strings.Count(h, ":") == 1 {
		return h[:strings.IndexByte(h, ':')]
	}
	return h
}
