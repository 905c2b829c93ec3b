package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/spacemusic/egress"
)

// This file decides which outside addresses a caller may make LiveKit Ingress
// pull from and LiveKit Egress send to. Both run inside the operator's network,
// so an unchecked URL would let any operator reach the metadata service,
// loopback admin ports or the private network (SSRF).

// maxDestinations bounds the RTMP destinations of one restream.
const maxDestinations = 10

// defaultRestreamAllow are the common platforms' RTMP ingest hosts: YouTube's
// primary and backup ingests, Twitch's ingest network and its global name, and
// Facebook Live's.
const defaultRestreamAllow = "a.rtmp.youtube.com,b.rtmp.youtube.com,*.contribute.live-video.net,live.twitch.tv,live-api-s.facebook.com"

// hostList is an allow-list: host names, *.domain wildcards (any name under the
// domain, not the domain itself), and IP literals or CIDRs. An IP entry is the
// only way to allow a special address (loopback, private, ...).
type hostList struct {
	names    map[string]bool
	suffixes []string // ".example.com" for *.example.com
	prefixes []netip.Prefix
}

func (h hostList) empty() bool {
	return len(h.names) == 0 && len(h.suffixes) == 0 && len(h.prefixes) == 0
}

// parseHostList reads a comma-separated list; "none" is the empty list.
func parseHostList(v string) (hostList, error) {
	h := hostList{names: map[string]bool{}}
	if strings.TrimSpace(v) == "none" {
		return h, nil
	}
	for _, e := range splitList(v) {
		e = strings.ToLower(e)
		if p, err := netip.ParsePrefix(e); err == nil {
			if p.Addr().Is4In6() {
				if p.Bits() < 96 {
					return hostList{}, fmt.Errorf("%q mixes IPv4-mapped and other IPv6 addresses; write the IPv4 CIDR", e)
				}
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			h.prefixes = append(h.prefixes, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(e); err == nil && a.Zone() == "" {
			a = a.Unmap()
			h.prefixes = append(h.prefixes, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		name, wild := strings.CutPrefix(e, "*.")
		name = strings.TrimSuffix(name, ".")
		if !validHostName(name) {
			return hostList{}, fmt.Errorf("%q is not a host name, *.domain, IP address or CIDR", e)
		}
		if wild {
			h.suffixes = append(h.suffixes, "."+name)
		} else {
			h.names[name] = true
		}
	}
	return h, nil
}

// validHostName accepts DNS names only. The last label must start with a letter,
// so that nothing a resolver (inet_aton) would read as an IPv4 address in
// another notation (2130706433, 0x7f.1, 0177.0.0.1, 127.1) passes as a name.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	return last[0] >= 'a' && last[0] <= 'z'
}

func (h hostList) allowsName(name string) bool {
	return h.names[name] || slices.ContainsFunc(h.suffixes, func(s string) bool { return strings.HasSuffix(name, s) })
}

func (h hostList) allowsAddr(a netip.Addr) bool {
	return slices.ContainsFunc(h.prefixes, func(p netip.Prefix) bool { return p.Contains(a) })
}

// special are addresses a pull or restream must not reach unless an IP or CIDR
// entry allows them: beyond loopback, private, link-local (with the cloud
// metadata services: 169.254.169.254, fd00:ec2::254), multicast and unspecified,
// the ranges that route to the operator's own side (CGNAT, NAT64, reserved).
var special = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/96"), // IPv4-compatible, and :: and ::1
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2002::/16"), // 6to4 embeds any IPv4 address
}

func isSpecial(a netip.Addr) bool {
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsUnspecified() || !a.IsValid() ||
		slices.ContainsFunc(special, func(p netip.Prefix) bool { return p.Contains(a) })
}

// outbound is one kind of outside address: its schemes, allow-list and setting.
type outbound struct {
	what    string // "URL pull", "restream destination"
	code    string // the refusal's error code
	setting string
	schemes []string
	list    hostList
}

func (s *server) pullCheck() outbound {
	return outbound{"URL pull", "pull_not_allowed", "DASHBOARD_PULL_ALLOW", []string{"http", "https"}, s.Settings.PullAllow}
}

func (s *server) restreamCheck() outbound {
	return outbound{"restream destination", "destination_not_allowed", "DASHBOARD_RESTREAM_ALLOW", []string{"rtmp", "rtmps"}, s.Settings.RestreamAllow}
}

func (s *server) resolver() Resolver {
	if s.Resolver != nil {
		return s.Resolver
	}
	return net.DefaultResolver
}

// check refuses raw unless its host is on the list and every address it
// resolves to is public or explicitly allowed. Messages show the URL with its
// credentials and stream key redacted.
func (o outbound) check(ctx context.Context, res Resolver, raw string) error {
	shown := egress.RedactURL(raw)
	u, err := url.Parse(raw)
	if err != nil || !slices.Contains(o.schemes, u.Scheme) || u.Host == "" || u.Opaque != "" {
		return api.BadRequest("%s %s is not an absolute %s:// URL", o.what, shown, strings.Join(o.schemes, ":// or "))
	}
	refuse := func(format string, args ...any) error {
		return api.NewError(http.StatusBadRequest, o.code, fmt.Sprintf("%s %s: ", o.what, shown)+fmt.Sprintf(format, args...))
	}
	if o.list.empty() {
		return refuse("%ss are off on this dashboard; list the hosts they may use in %s", o.what, o.setting)
	}
	if u.User != nil {
		return refuse("credentials in the URL's host part are not accepted")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return refuse("the port is not a port number")
		}
	}
	host := strings.ToLower(u.Hostname())
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" || !o.list.allowsAddr(a.Unmap()) {
			return refuse("the address is not in %s", o.setting)
		}
		return nil // an IP entry allows exactly its addresses, special or not
	}
	host = strings.TrimSuffix(host, ".")
	if !validHostName(host) {
		return refuse("the host is not a DNS name or an IP address in standard notation")
	}
	if !o.list.allowsName(host) {
		return refuse("the host is not in %s", o.setting)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := res.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return refuse("the host does not resolve")
	}
	for _, a := range addrs {
		if a = a.Unmap(); isSpecial(a) && !o.list.allowsAddr(a) {
			return refuse("the host resolves to a loopback, private, link-local or otherwise internal address")
		}
	}
	return nil
}

// checkOutbound checks every URL of a request.
func (s *server) checkOutbound(ctx context.Context, o outbound, urls ...string) error {
	for _, raw := range urls {
		if err := o.check(ctx, s.resolver(), raw); err != nil {
			return err
		}
	}
	return nil
}

// checkDestinations checks restream destinations and their number: those the
// egress already sends to (none for a new restream) plus those added.
func (s *server) checkDestinations(ctx context.Context, egressID string, add []string) error {
	if err := s.checkOutbound(ctx, s.restreamCheck(), add...); err != nil {
		return err
	}
	have := 0
	if egressID != "" {
		e, err := s.Egress.Get(ctx, egressID)
		if err != nil {
			return err
		}
		for _, st := range e.Streams {
			if st.Status != "finished" && st.Status != "failed" {
				have++
			}
		}
	}
	if have+len(add) > maxDestinations {
		return api.NewError(http.StatusBadRequest, "too_many_destinations",
			fmt.Sprintf("a restream sends to at most %d destinations; it has %d and %d were added (remove some first)", maxDestinations, have, len(add)))

	}
	return nil
}
