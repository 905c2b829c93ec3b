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
	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/spacemusic/egress"
)

// This file decides which outside addresses a caller may make LiveKit Ingress
// pull from and LiveKit Egress send to. Both run inside the operator's network,
// so an unchecked URL would let any operator reach the metadata service,
// loopback admin ports or the private network (SSRF).

// maxDestinations bounds the RTMP destinations of one restream.
const maxDestinations = 10

// outbound is one kind of outside address: its schemes, allow-list and setting.
type outbound struct {
	what    string // "URL pull", "restream destination"
	code    string // the refusal's error code
	setting string
	schemes []string
	list    config.HostList
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
	if o.list.Empty() {
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
		if a.Zone() != "" || !o.list.AllowsAddr(a.Unmap()) {
			return refuse("the address is not in %s", o.setting)
		}
		return nil // an IP entry allows exactly its addresses, special or not
	}
	host = strings.TrimSuffix(host, ".")
	if !config.ValidHostName(host) {
		return refuse("the host is not a DNS name or an IP address in standard notation")
	}
	if !o.list.AllowsName(host) {
		return refuse("the host is not in %s", o.setting)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := res.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return refuse("the host does not resolve")
	}
	for _, a := range addrs {
		if a = a.Unmap(); config.IsSpecial(a) && !o.list.AllowsAddr(a) {
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

// checkShowOutbound checks a show's restream destinations and its pull source
// ("" when none).
func (s *server) checkShowOutbound(ctx context.Context, restream []string, pull string) error {
	if err := s.checkOutbound(ctx, s.restreamCheck(), restream...); err != nil || pull == "" {
		return err
	}
	return s.checkOutbound(ctx, s.pullCheck(), pull)
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
