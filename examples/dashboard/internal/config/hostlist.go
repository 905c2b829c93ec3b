package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// DefaultRestreamAllow are the common platforms' RTMP ingest hosts: YouTube's
// primary and backup ingests, Twitch's ingest network and its global name, and
// Facebook Live's.
const DefaultRestreamAllow = "a.rtmp.youtube.com,b.rtmp.youtube.com,*.contribute.live-video.net,live.twitch.tv,live-api-s.facebook.com"

// HostList is an allow-list: host names, *.domain wildcards (any name under the
// domain, not the domain itself), and IP literals or CIDRs. An IP entry is the
// only way to allow a special address (loopback, private, ...).
type HostList struct {
	names    map[string]bool
	suffixes []string // ".example.com" for *.example.com
	prefixes []netip.Prefix
}

func (h HostList) Empty() bool {
	return len(h.names) == 0 && len(h.suffixes) == 0 && len(h.prefixes) == 0
}

// ParseHostList reads a comma-separated list; "none" is the empty list.
func ParseHostList(v string) (HostList, error) {
	h := HostList{names: map[string]bool{}}
	if strings.TrimSpace(v) == "none" {
		return h, nil
	}
	for _, e := range splitList(v) {
		e = strings.ToLower(e)
		if p, err := netip.ParsePrefix(e); err == nil {
			if p.Addr().Is4In6() {
				if p.Bits() < 96 {
					return HostList{}, fmt.Errorf("%q mixes IPv4-mapped and other IPv6 addresses; write the IPv4 CIDR", e)
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
		if !ValidHostName(name) {
			return HostList{}, fmt.Errorf("%q is not a host name, *.domain, IP address or CIDR", e)
		}
		if wild {
			h.suffixes = append(h.suffixes, "."+name)
		} else {
			h.names[name] = true
		}
	}
	return h, nil
}

// ValidHostName accepts DNS names only. The last label must start with a letter,
// so that nothing a resolver (inet_aton) would read as an IPv4 address in
// another notation (2130706433, 0x7f.1, 0177.0.0.1, 127.1) passes as a name.
func ValidHostName(h string) bool {
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

func (h HostList) AllowsName(name string) bool {
	return h.names[name] || slices.ContainsFunc(h.suffixes, func(s string) bool { return strings.HasSuffix(name, s) })
}

func (h HostList) AllowsAddr(a netip.Addr) bool {
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

func IsSpecial(a netip.Addr) bool {
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsUnspecified() || !a.IsValid() ||
		slices.ContainsFunc(special, func(p netip.Prefix) bool { return p.Contains(a) })
}
