// Package doctor checks a dashboard's deployment end to end, as an operator
// would by hand: LiveKit and the key, clocks, the public WebSocket URL,
// webhooks, TURN, Ingress, Egress, the bucket and downloads, each with its fix.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/media"
	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/keys"
	"github.com/spacemusic/streamkit/spacemusic/recordings"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// Check is one line of the doctor's answer: what was checked, how it
// went, and what to change when it did not.
type Check struct {
	Name   string `json:"name" enum:"livekit,clock,ws_url,webhooks,turn,ingress,egress,bucket,download"`
	Status string `json:"status" enum:"ok,warn,fail,skip"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
	MS     int64  `json:"ms"`
}

// Report is the doctor's answer: every check, and the worst one's status.
type Report struct {
	Status string  `json:"status" enum:"ok,warn,fail"` // the worst check's
	Checks []Check `json:"checks"`
}

// Doctor checks a deployment end to end, as an operator would by hand. Its
// targets are the configured ones only (nothing in a request names one), and
// its answers never carry a secret: addresses without userinfo, errors by kind.
type Doctor struct {
	lk       spacemusic.Config
	health   liveKit
	rooms    probeRooms
	ingress  media.Ingresses // nil: recording and ingest are off
	store    *recordings.Store
	days     int // MINIO_RETENTION_DAYS as configured (0: the default)
	webhooks func(ctx context.Context) (heard Heard, err error)
	// ingressHealth, egressHealth: their health_port URLs; "" skips the check.
	ingressHealth, egressHealth string
	turn                        []config.TURNServer // DASHBOARD_TURN
	client                      *http.Client
	busy                        atomic.Bool // a run is under way (Handler)
}

// liveKit is what the doctor asks of LiveKit: *spacemusic.Client's health, and
// a probe room from *rooms.Service.
type liveKit interface {
	Health(ctx context.Context) error
}

type probeRooms interface {
	Create(ctx context.Context, name string, o rooms.CreateOptions) (rooms.Room, error)
	Delete(ctx context.Context, name string) error
}

// Heard is what the dashboard heard of LiveKit's webhooks: when it last
// applied one, and how many it refused for their signature.
type Heard struct {
	Last    time.Time
	Refused int64
}

// doctorWebhookWait bounds how long the doctor waits for its probe room's
// webhook: LiveKit sends it within a second (6–40 ms here).
const doctorWebhookWait = 5 * time.Second

// Run runs every check, all at once: none waits for another to fail.
func (d *Doctor) Run(ctx context.Context) Report {
	steps := []struct {
		name string
		fn   func(context.Context) (string, string, error)
	}{
		{"livekit", d.checkLiveKit}, {"clock", d.checkClock}, {"ws_url", d.checkWSURL},
		{"webhooks", d.checkWebhooks}, {"turn", d.checkTURN}, {"ingress", d.checkIngress},
		{"egress", func(ctx context.Context) (string, string, error) {
			return d.checkHealthURL(ctx, "Egress", d.egressHealth, "DASHBOARD_EGRESS_HEALTH_URL")
		}},
	}
	// The checks are independent and each bounded by its own timeout: they run
	// at once, so a broken deployment answers in the slowest check's time, not
	// the sum of every failing check's wait. Their lines keep this order.
	checks := make([]Check, len(steps)+2)
	fails := make([]error, len(steps))
	var wg sync.WaitGroup
	for i, st := range steps {
		wg.Go(func() {
			start := time.Now()
			detail, fix, err := st.fn(ctx)
			checks[i], fails[i] = Check{Name: st.name, Detail: detail, Fix: fix, MS: time.Since(start).Milliseconds()}, err
		})
	}
	wg.Go(func() {
		start := time.Now()
		bucket, download := d.checkBucket(ctx)
		bucket.MS, download.MS = time.Since(start).Milliseconds(), time.Since(start).Milliseconds()
		checks[len(steps)], checks[len(steps)+1] = bucket, download
	})
	wg.Wait()
	rep := Report{Status: "ok"}
	for i, c := range checks {
		var err error
		if i < len(fails) {
			err = fails[i]
		}
		rep.add(c, err)
	}
	return rep
}

// errWarn marks a check that passed with a reservation.
var (
	errWarn = errors.New("warn")
	errSkip = errors.New("skip")
)

func (r *Report) add(c Check, err error) {
	if c.Status == "" {
		switch {
		case err == nil:
			c.Status = "ok"
		case errors.Is(err, errWarn):
			c.Status = "warn"
		case errors.Is(err, errSkip):
			c.Status = "skip"
		default:
			c.Status = "fail"
		}
	}
	rank := map[string]int{"ok": 0, "skip": 0, "warn": 1, "fail": 2}
	if rank[c.Status] > rank[r.Status] {
		r.Status = c.Status
	}
	r.Checks = append(r.Checks, c)
}

func (d *Doctor) checkLiveKit(ctx context.Context) (string, string, error) {
	err := d.health.Health(ctx)
	switch {
	case err == nil:
		return "LiveKit answers at " + d.lk.URL + " and accepts our API key", "", nil
	case errors.Is(err, errs.ErrUnauthorized), errors.Is(err, errs.ErrPermissionDenied):
		return "LiveKit refused our API key", "LIVEKIT_API_KEY and LIVEKIT_API_SECRET must be a pair under keys: in livekit.yaml", err
	}
	return "LiveKit does not answer at " + d.lk.URL, "start livekit-server, or set LIVEKIT_URL to its API address", err
}

// checkClock compares LiveKit's Date header with this host's clock: a token is
// not valid before its nbf, so a LiveKit behind us refuses fresh tokens.
func (d *Doctor) checkClock(ctx context.Context) (string, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.lk.URL+"/", nil)
	if err != nil {
		return "", "", err
	}
	sent := time.Now()
	resp, err := d.client.Do(req)
	if err != nil {
		return "LiveKit does not answer", "see the livekit check", errSkip
	}
	resp.Body.Close()
	theirs, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return "LiveKit's answer has no Date header", "", errSkip
	}
	skew := theirs.Sub(sent.Truncate(time.Second)).Round(time.Second)
	if skew.Abs() > 5*time.Second {
		return fmt.Sprintf("LiveKit's clock is %s off this host's", skew), "run NTP (chrony or systemd-timesyncd) on both hosts", fmt.Errorf("clock skew %s", skew)
	}
	return fmt.Sprintf("LiveKit's clock agrees with this host's (within %s)", max(skew.Abs(), time.Second)), "", nil
}

// checkWSURL dials the address listeners are handed with their tokens.
func (d *Doctor) checkWSURL(ctx context.Context) (string, string, error) {
	u, err := url.Parse(d.lk.WSURL())
	if err != nil || u.Host == "" {
		return "LIVEKIT_WS_URL is not a URL", "set LIVEKIT_WS_URL to wss://your-livekit-host", errors.New("bad url")
	}
	shown := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
	port := u.Port()
	if port == "" {
		port = map[string]string{"wss": "443", "https": "443"}[u.Scheme]
		if port == "" {
			port = "80"
		}
	}
	dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return "nothing answers at " + shown, "set LIVEKIT_WS_URL to the address browsers reach LiveKit at", err
	}
	conn.Close()
	if ip, err := netip.ParseAddr(u.Hostname()); (err == nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
		return shown + " answers, but only on this host: listeners elsewhere cannot join",
			"set LIVEKIT_WS_URL to the public wss:// address (the seed's livekit domain)", errWarn
	}
	if u.Scheme == "ws" {
		return shown + " answers, without TLS: browsers on an https page refuse ws://", "put TLS in front and use wss://", errWarn
	}
	return shown + " answers", "", nil
}

// checkWebhooks opens a probe room (LiveKit announces it with room_started)
// and waits for the live model to hear of it.
func (d *Doctor) checkWebhooks(ctx context.Context) (string, string, error) {
	if d.webhooks == nil {
		return "this dashboard runs no live model", "serve the dashboard with its webhook route", errSkip
	}
	before, err := d.webhooks(ctx)
	if err != nil {
		return "cannot learn what the dashboard heard: " + err.Error(), "start the dashboard, and run the doctor with its DASHBOARD_ADDR", err
	}
	name := "streamkit-doctor-" + keys.NewID()
	start := time.Now()
	if _, err := d.rooms.Create(ctx, name, rooms.CreateOptions{EmptyTimeout: 10 * time.Second}); err != nil {
		return "could not open a probe room", "see the livekit check", err
	}
	defer func() { _ = d.rooms.Delete(context.WithoutCancel(ctx), name) }()
	wctx, cancel := context.WithTimeout(ctx, doctorWebhookWait)
	defer cancel()
	for {
		heard, err := d.webhooks(wctx)
		switch {
		case err == nil && !heard.Last.Before(start):
			return fmt.Sprintf("LiveKit's webhook arrived %d ms after a room opened", heard.Last.Sub(start).Milliseconds()), "", nil
		case err == nil && heard.Refused > before.Refused:
			return "webhooks arrive, signed with another key than LIVEKIT_API_KEY's: the dashboard refuses them",
				"set webhook.api_key in livekit.yaml to LIVEKIT_API_KEY", errors.New("webhooks refused")
		}
		select {
		case <-wctx.Done():
			return fmt.Sprintf("no webhook in %s after a room opened", doctorWebhookWait),
				"in livekit.yaml, list this dashboard's /api/webhooks/livekit under webhook.urls, with webhook.api_key: LIVEKIT_API_KEY",
				errors.New("no webhook")
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// checkTURN asks each TURN server listeners are handed as /api/health does: a
// STUN binding for UDP, a TCP connect for TLS.
func (d *Doctor) checkTURN(ctx context.Context) (string, string, error) {
	if len(d.turn) == 0 {
		return "no TURN server is configured: listeners behind NAT or a UDP-blocking firewall cannot join",
			"enable LiveKit's turn: (the seed's 3478/udp and 5349/tls) and list it in DASHBOARD_TURN", errWarn
	}
	tctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var down []string
	for _, h := range config.CheckTURN(tctx, d.turn) {
		if !h.Reachable {
			down = append(down, h.URL)
		}
	}
	if len(down) > 0 {
		return "TURN does not answer at " + strings.Join(down, ", "),
			"start LiveKit's turn: (turn.enabled) and open its ports; LiveKit hands out turns:<turn.domain>:443, so carry 443 to tls_port", errors.New("turn down")
	}
	return fmt.Sprintf("%d TURN server(s) answer", len(d.turn)), "", nil
}

// checkIngress: LiveKit needs Redis for ingress, and the Ingress service
// answers on its health port.
func (d *Doctor) checkIngress(ctx context.Context) (string, string, error) {
	if d.ingress != nil {
		if _, err := d.ingress.List(ctx, ingress.ListOptions{}); err != nil {
			return "LiveKit cannot list ingresses", "LiveKit needs redis: in livekit.yaml for ingress (the seed's Redis)", err
		}
	}
	return d.checkHealthURL(ctx, "Ingress", d.ingressHealth, "DASHBOARD_INGRESS_HEALTH_URL")
}

func (d *Doctor) checkHealthURL(ctx context.Context, what, target, knob string) (string, string, error) {
	if target == "" {
		return what + "'s health is not checked", "set " + knob + " to its health_port URL", errSkip
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return "", "", err
	}
	resp, err := d.client.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return what + " answers its health check", "", nil
		}
		err = fmt.Errorf("answered %d", resp.StatusCode)
	}
	return what + " does not answer its health check", "start the " + what + " service (it needs LiveKit's Redis)", err
}

// checkBucket writes, reads, downloads and deletes a probe object, and reads
// the expiry rule back: two lines, the bucket and the public download.
func (d *Doctor) checkBucket(ctx context.Context) (Check, Check) {
	bucket, download := Check{Name: "bucket"}, Check{Name: "download"}
	if d.store == nil {
		bucket.Status, bucket.Detail, bucket.Fix = "skip", "recording is off", "set MINIO_ENDPOINT, MINIO_BUCKET, MINIO_ACCESS_KEY and MINIO_SECRET_KEY"
		download.Status, download.Detail = "skip", "recording is off"
		return bucket, download
	}
	err := d.store.Probe(ctx, d.client)
	var e *errs.Error
	errors.As(err, &e)
	switch {
	case err == nil:
		bucket.Status, bucket.Detail = "ok", "the bucket takes, gives back and deletes an object"
		download.Status, download.Detail = "ok", "a download link works at the public endpoint"
	case e != nil && e.Op == recordings.ProbeDownload:
		bucket.Status, bucket.Detail = "ok", "the bucket takes, gives back and deletes an object"
		download.Status, download.Detail = "fail", "a download link does not work: "+err.Error()
		download.Fix = "set MINIO_PUBLIC_ENDPOINT to the address browsers reach the store at"
	default:
		bucket.Status, bucket.Detail = "fail", "the bucket does not work: "+err.Error()
		bucket.Fix = "create the bucket (the dashboard creates a missing one at start) and give the key read and write on it"
		download.Status, download.Detail = "skip", "see the bucket check"
		return bucket, download
	}
	want := d.days
	switch want {
	case 0:
		want = recordings.Retention
	case recordings.KeepForever:
		want = 0
	}
	if days, err := d.store.RetentionDays(ctx); err == nil && days != want {
		bucket.Status = "warn"
		bucket.Detail += fmt.Sprintf("; its expiry rule keeps objects %d days (0: for ever), MINIO_RETENTION_DAYS wants %d", days, want)
		bucket.Fix = "set the bucket's lifecycle (mc ilm) or MINIO_RETENTION_DAYS to agree"
	}
	return bucket, download
}

// Handler runs the doctor for an admin. It opens a room and writes to the
// bucket, so one run at a time: a second caller is told to come back.
func (d *Doctor) Handler() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if !d.busy.CompareAndSwap(false, true) {
			w.Header().Set("Retry-After", "5")
			return api.NewError(http.StatusTooManyRequests, "doctor_busy", "the doctor is already running; try again in a few seconds")
		}
		defer d.busy.Store(false)
		api.WriteJSON(w, http.StatusOK, d.Run(r.Context()))
		return nil
	}
}

// New is the doctor of sm's deployment; webhooks tells when it last
// heard a webhook.
func New(sm *spacemusic.Client, s config.Settings, webhooks func(context.Context) (Heard, error)) *Doctor {
	cfg := sm.Config()
	d := &Doctor{lk: cfg, health: sm, rooms: sm.Rooms, store: sm.Recordings, days: cfg.Storage.RetentionDays,
		webhooks: webhooks, ingressHealth: s.IngressHealth, egressHealth: s.EgressHealth, turn: s.TURN,
		client: &http.Client{Timeout: 5 * time.Second}}
	if sm.Ingress != nil {
		d.ingress = sm.Ingress
	}
	return d
}
