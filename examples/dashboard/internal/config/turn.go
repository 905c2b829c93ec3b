package config

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/stun/v3"
)

// TURNServer is a TURN server listeners are handed, as DASHBOARD_TURN names it
// (RFC 7065 URIs: turn:host:port?transport=udp, turns:host:port?transport=tcp).
type TURNServer struct {
	URL  string // as configured
	Addr string // host:port the check dials
	UDP  bool   // TURN over UDP: checked with a STUN binding request; else a TCP connect
}

// TURNHealth is what /api/health says of one configured TURN server.
type TURNHealth struct {
	URL       string `json:"url"`
	Check     string `json:"check" enum:"stun,tcp"` // a STUN binding request answered (UDP), or a TCP connect (TLS, TCP)
	Reachable bool   `json:"reachable"`
}

// MaxTURNServers bounds DASHBOARD_TURN: each health probe checks them all.
const MaxTURNServers = 8

// ParseTURN reads DASHBOARD_TURN: comma-separated turn: and turns: URIs, with
// the RFC's default ports (3478, 5349) when none is given.
func ParseTURN(v string) ([]TURNServer, error) {
	var out []TURNServer
	for _, raw := range splitList(v) {
		ts, err := parseTURNURI(raw)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", raw, err)
		}
		out = append(out, ts)
	}
	if len(out) > MaxTURNServers {
		return nil, fmt.Errorf("at most %d TURN servers", MaxTURNServers)
	}
	return out, nil
}

func parseTURNURI(raw string) (TURNServer, error) {
	scheme, rest, ok := strings.Cut(raw, ":")
	if !ok || (scheme != "turn" && scheme != "turns") {
		return TURNServer{}, errors.New("want turn:host:port or turns:host:port")
	}
	hostport, query, _ := strings.Cut(rest, "?")
	q, err := url.ParseQuery(query)
	if err != nil || len(q) > 1 || (len(q) == 1 && q.Get("transport") == "") {
		return TURNServer{}, errors.New("the only parameter is transport=udp or transport=tcp")
	}
	transport := q.Get("transport")
	switch {
	case transport == "" && scheme == "turn":
		transport = "udp"
	case transport == "":
		transport = "tcp"
	case transport != "udp" && transport != "tcp", scheme == "turns" && transport == "udp":
		return TURNServer{}, errors.New("transport is udp or tcp (turns: tcp only)")
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, map[string]string{"turn": "3478", "turns": "5349"}[scheme]
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return TURNServer{}, errors.New("the port is a number from 1 to 65535")
	}
	if host == "" || strings.ContainsAny(host, "/@[]% ") {
		return TURNServer{}, errors.New("the host is a name or an IP address")
	}
	return TURNServer{URL: raw, Addr: net.JoinHostPort(host, port), UDP: transport == "udp"}, nil
}

// CheckTURN checks every server at once within ctx: reachable means a STUN
// binding request was answered (TURN over UDP answers STUN) or a TCP
// connection was accepted (the TLS handshake and TURN's own allocation, which
// needs a listener's credentials, are not tried).
func CheckTURN(ctx context.Context, servers []TURNServer) []TURNHealth {
	out := make([]TURNHealth, len(servers))
	var wg sync.WaitGroup
	for i, ts := range servers {
		out[i] = TURNHealth{URL: ts.URL, Check: "tcp"}
		if ts.UDP {
			out[i].Check = "stun"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].Reachable = reachTURN(ctx, ts) == nil
		}()
	}
	wg.Wait()
	return out
}

func reachTURN(ctx context.Context, ts TURNServer) error {
	var d net.Dialer
	if !ts.UDP {
		c, err := d.DialContext(ctx, "tcp", ts.Addr)
		if err == nil {
			c.Close()
		}
		return err
	}
	c, err := d.DialContext(ctx, "udp", ts.Addr)
	if err != nil {
		return err
	}
	defer c.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(2 * time.Second)
	}
	_ = c.SetDeadline(deadline)
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	// UDP may lose the request: ask again every 250 ms until the deadline.
	for {
		if _, err := c.Write(req.Raw); err != nil {
			return err
		}
		err := awaitBinding(c, req.TransactionID, minTime(deadline, time.Now().Add(250*time.Millisecond)))
		var ne net.Error
		if err == nil || !errors.As(err, &ne) || !ne.Timeout() || !time.Now().Before(deadline) || ctx.Err() != nil {
			return err // answered, refused (ICMP: nothing listens), or out of time
		}
	}
}

// awaitBinding reads until the answer to transaction id arrives or until
// passes; anything else read (another transaction, not STUN) is ignored, and
// never answered with a new request.
func awaitBinding(c net.Conn, id [stun.TransactionIDSize]byte, until time.Time) error {
	_ = c.SetReadDeadline(until)
	buf := make([]byte, 1500)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return err
		}
		res := &stun.Message{Raw: buf[:n]}
		if res.Decode() == nil && res.Type == stun.BindingSuccess && res.TransactionID == id {
			return nil
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
