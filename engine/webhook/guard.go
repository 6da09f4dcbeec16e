package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrRefused: the destination is not allowed (a private address, a bad
// scheme); the wrapping error says why.
var ErrRefused = errors.New("webhook destination refused")

// blocked are the ranges no webhook may reach unless allow-listed: the
// gateway's own host, its network and the cloud metadata service.
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network", unspecified
	netip.MustParsePrefix("10.0.0.0/8"),     // RFC 1918
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT
	netip.MustParsePrefix("127.0.0.0/8"),    // loopback
	netip.MustParsePrefix("169.254.0.0/16"), // link-local, cloud metadata
	netip.MustParsePrefix("172.16.0.0/12"),  // RFC 1918
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("192.168.0.0/16"), // RFC 1918
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("224.0.0.0/4"),    // multicast
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, broadcast
	netip.MustParsePrefix("::/128"),         // unspecified
	netip.MustParsePrefix("::1/128"),        // loopback
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64 (embeds IPv4)
	netip.MustParsePrefix("64:ff9b:1::/48"), // local NAT64
	netip.MustParsePrefix("fc00::/7"),       // unique local
	netip.MustParsePrefix("fe80::/10"),      // link-local
	netip.MustParsePrefix("ff00::/8"),       // multicast
	netip.MustParsePrefix("2001:db8::/32"),  // documentation
	netip.MustParsePrefix("2002::/16"),      // 6to4 (embeds IPv4)
	netip.MustParsePrefix("2001::/32"),      // Teredo (embeds IPv4)
	netip.MustParsePrefix("::ffff:0:0/96"),  // IPv4-mapped (unmapped first)
	netip.MustParsePrefix("100::/64"),       // discard-only
	netip.MustParsePrefix("fec0::/10"),      // deprecated site-local
	netip.MustParsePrefix("::/96"),          // IPv4-compatible (deprecated)
}

// Guard decides which destinations webhooks may reach.
type Guard struct {
	prefixes []netip.Prefix // allowed despite being blocked
	hosts    map[string]bool
	resolver *net.Resolver
}

// NewGuard parses an allow-list of CIDRs and host names.
func NewGuard(allow []string) (*Guard, error) {
	g := &Guard{hosts: map[string]bool{}, resolver: net.DefaultResolver}
	for _, a := range allow {
		if p, err := netip.ParsePrefix(a); err == nil {
			g.prefixes = append(g.prefixes, p.Masked())
			continue
		}
		if ip, err := netip.ParseAddr(a); err == nil {
			g.prefixes = append(g.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		if a == "" || strings.ContainsAny(a, "/ :") {
			return nil, fmt.Errorf("webhooks.allow %q: expected a CIDR or a host name", a)
		}
		g.hosts[strings.ToLower(strings.TrimSuffix(a, "."))] = true
	}
	return g, nil
}

// AllowedIP reports whether an address may be reached.
func (g *Guard) AllowedIP(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range g.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	if ip.Zone() != "" {
		return false
	}
	for _, p := range blocked {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// hostAllowed reports whether a host name is allow-listed by name.
func (g *Guard) hostAllowed(host string) bool {
	return g.hosts[strings.ToLower(strings.TrimSuffix(host, "."))]
}

// CheckURL validates a webhook URL at creation: http or https, a host, and
// every address the host resolves to allowed. Delivery checks again, on the
// address actually dialled (see Dialer), because DNS can change between
// the two.
func (g *Guard) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRefused, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: scheme %q (use http or https)", ErrRefused, u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("%w: the URL has no host", ErrRefused)
	}
	if u.User != nil {
		return fmt.Errorf("%w: credentials in the URL (use the signing secret to authenticate deliveries)", ErrRefused)
	}
	if g.hostAllowed(host) {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !g.AllowedIP(ip) {
			return fmt.Errorf("%w: %s is a loopback, private, link-local or reserved address (allow it in [webhooks] allow)", ErrRefused, ip)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := g.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("%w: resolve %s: %v", ErrRefused, host, err)
	}
	for _, ip := range addrs {
		if !g.AllowedIP(ip) {
			return fmt.Errorf("%w: %s resolves to %s, a loopback, private, link-local or reserved address (allow it in [webhooks] allow)", ErrRefused, host, ip.Unmap())
		}
	}
	return nil
}

// DialContext dials for deliveries: to an allow-listed host name as asked,
// else only to allowed addresses, checked on the socket's address after
// resolution (a host that re-resolves to a private address is refused).
func (g *Guard) DialContext(timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	open := &net.Dialer{Timeout: timeout}
	guarded := &net.Dialer{Timeout: timeout, Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrRefused, err)
		}
		if !g.AllowedIP(ap.Addr()) {
			return fmt.Errorf("%w: %s is a loopback, private, link-local or reserved address", ErrRefused, ap.Addr().Unmap())
		}
		return nil
	}}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err == nil && g.hostAllowed(host) {
			return open.DialContext(ctx, network, addr)
		}
		return guarded.DialContext(ctx, network, addr)
	}
}
