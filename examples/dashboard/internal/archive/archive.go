// Package archive is the dashboard's recordings routes: the bucket's
// listing, a page at a time with download links, and downloads through the
// dashboard with Range requests.
package archive

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/looks"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/keys"
	"github.com/spacemusic/streamkit/spacemusic/recordings"
)

// Routes is the recordings routes: the bucket's listing with download links,
// and downloads through the dashboard.
type Routes struct {
	Store  Recordings
	Egress interface {
		List(context.Context, egress.ListOptions) ([]egress.Egress, error)
	} // which egress wrote a file
	PerPrincipal int                        // downloads one user may run at once
	DownloadMax  time.Duration              // the longest a download may take
	WriteTimeout time.Duration              // the server's, lifted for downloads
	Who          func(*http.Request) string // the caller's principal
	ViaProxy     func(*http.Request) bool   // the request came through the trusted proxy
	downloads    api.Slots                  // downloads running, by principal
}

// Recording is a file or HLS run in the bucket with a link to download it and,
// when the egress that wrote it is still known to LiveKit, its duration.
type Recording struct {
	recordings.Recording
	DurationMS  int64  `json:"durationMs,omitempty"`
	EgressID    string `json:"egressId,omitempty"`
	DownloadURL string `json:"downloadUrl"` // presigned, or this dashboard's GET /api/recordings/{key} path
	// LinkExpires is when a presigned link stops working; absent for the
	// dashboard's own path, which works as long as the caller may sign in.
	LinkExpires time.Time `json:"linkExpiresAt,omitzero"`
}

// A room's archive is listed at most once per listingTTL, whatever page,
// page size or cursor is asked for: S3 lists keys in ascending order only, so
// "newest first" cannot resume from a cursor, and every page would otherwise
// list the whole folder. Each page is cut from the room's listing in memory;
// listingRooms bounds how many rooms' listings are kept.
const (
	ListingTTL   = 3 * time.Second
	listingRooms = 64
)

// Download link lifetimes by role: a viewer's link is shortest, since it works
// after the viewer's account is revoked; an admin's may last as long as S3 allows.
const (
	viewerLinkTTL   = time.Hour
	operatorLinkTTL = 24 * time.Hour
)

func linkTTLOf(r api.Role) time.Duration {
	switch {
	case r >= api.Admin:
		return recordings.MaxLinkTTL
	case r >= api.Operator:
		return operatorLinkTTL
	}
	return viewerLinkTTL
}

// listQuery reads the paging parameters: limit (1..MaxPageSize) and an opaque
// cursor from a previous answer.
func listQuery(q url.Values) (recordings.ListOptions, error) {
	o := recordings.ListOptions{Room: q.Get("room"), Limit: recordings.DefaultPageSize, Cursor: q.Get("cursor")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > recordings.MaxPageSize {
			return o, api.BadRequest("limit is recordings per page, from 1 to %d", recordings.MaxPageSize)
		}
		o.Limit = n
	}
	if o.Room != "" {
		if err := keys.CheckRoom(o.Room); err != nil {
			return o, err // before any listing: a bad name takes no place among the kept ones
		}
	}
	if o.Cursor != "" {
		if _, err := recordings.DecodeCursor(o.Cursor); err != nil {
			return o, api.BadRequest("cursor must be the X-Next-Cursor of a previous answer")
		}
	}
	return o, nil
}

func (a *Routes) List() api.Handler {
	listings := looks.New[[]recordings.Recording](ListingTTL, ListingTTL, listingRooms)
	lengths := &durationCache{}
	return func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		ctx := r.Context()
		ttl, err := linkTTLQuery(q, api.UserFrom(ctx).Role)
		if err != nil {
			return err
		}
		opts, err := listQuery(q)
		if err != nil {
			return err
		}
		// The store bounds the listing with its Timeout (DASHBOARD_LIVEKIT_TIMEOUT).
		all, err := listings.Get(ctx, opts.Room, 0, func(ctx context.Context) ([]recordings.Recording, error) {
			return a.Store.List(ctx, opts.Room)
		})
		if err != nil {
			return err
		}
		page, err := recordings.Paginate(all, opts)
		if err != nil {
			return err
		}
		var byKey map[string]written
		if len(page.Recordings) > 0 { // the route needs recordingService: Egress is there
			byKey = a.writtenBy(ctx, opts.Room)
		}
		overHTTPS := a.cameOverHTTPS(r)
		out := make([]Recording, 0, len(page.Recordings))
		expires := time.Now().Add(ttl).UTC()
		reads := MaxDurationReads // files read for their length by this request; the rest on later ones
		for _, f := range page.Recordings {
			wr := byKey[f.Key]
			rec := Recording{Recording: f, DurationMS: wr.dur.Milliseconds(), EgressID: wr.id}
			if d, ok := lengths.of(ctx, a.Store, f, &reads); ok {
				rec.DurationMS = d.Milliseconds()
			}
			link, err := a.Store.Link(ctx, f, ttl)
			if err != nil {
				return err
			}
			// An HLS playlist names its segments relative to itself: only our
			// own path serves them too. And an https page gets no http link.
			if f.Kind == recordings.KindHLS || (overHTTPS && strings.HasPrefix(link, "http:")) {
				rec.DownloadURL = DownloadPath(r.URL.Path, f.Key)
			} else {
				rec.DownloadURL, rec.LinkExpires = link, expires
			}
			out = append(out, rec)
		}
		if page.Next != "" {
			next := r.URL.Query()
			next.Set("cursor", page.Next)
			w.Header().Set("X-Next-Cursor", page.Next)
			w.Header().Set("Link", "<"+(&url.URL{Path: r.URL.Path, RawQuery: next.Encode()}).String()+`>; rel="next"`)
		}
		api.WriteJSON(w, http.StatusOK, out)
		return nil
	}
}

// linkTTLQuery reads ?linkTtl= (seconds) within what role may have: a
// presigned link outlives the account that asked for it, so the less a role
// may do, the sooner its links end.
func linkTTLQuery(q url.Values, r api.Role) (time.Duration, error) {
	v := q.Get("linkTtl")
	if v == "" {
		return recordings.DefaultLinkTTL, nil
	}
	secs, err := strconv.Atoi(v)
	if err != nil || secs < 1 || time.Duration(secs)*time.Second > recordings.MaxLinkTTL {
		return 0, api.BadRequest("linkTtl is seconds, from 1 to %d", int(recordings.MaxLinkTTL.Seconds()))
	}
	ttl := time.Duration(secs) * time.Second
	if most := linkTTLOf(r); ttl > most {
		return 0, api.NewError(http.StatusBadRequest, "link_ttl_too_long", fmt.Sprintf("your role's download links last at most %d seconds", int(most.Seconds())))
	}
	return ttl, nil
}

// written is which egress wrote a recording, and how long it said it is.
type written struct {
	id  string
	dur time.Duration
}

// writtenBy is the room's egresses' files and playlists by key, from one
// ListEgress for every duration (never one call per file). Durations are a
// nicety: a LiveKit hiccup must not hide the archive, so a failed list is no
// durations.
func (a *Routes) writtenBy(ctx context.Context, room string) map[string]written {
	eg, err := a.Egress.List(ctx, egress.ListOptions{Room: room})
	if err != nil {
		return nil
	}
	byKey := map[string]written{}
	for _, e := range eg {
		for _, f := range e.Files {
			byKey[f.Key] = written{e.ID, f.Duration}
		}
		for _, p := range e.Playlists {
			byKey[p.Key] = written{e.ID, p.Duration}
		}
	}
	return byKey
}

// cameOverHTTPS: TLS here, or at the proxy in front of us. X-Forwarded-Proto
// is believed on the forward-auth headers' terms (a trusted address AND the
// proxy secret): with host networking every local process has the address.
func (a *Routes) cameOverHTTPS(r *http.Request) bool {
	return r.TLS != nil || (a.ViaProxy(r) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"))
}

// DownloadPath is GET /api/recordings/{key} under the prefix the list was asked
// on (/api or the gateway's /api/stream), each key element escaped.
func DownloadPath(listPath, key string) string {
	base := "/api/recordings/"
	if strings.HasPrefix(listPath, "/api/stream/") {
		base = "/api/stream/recordings/"
	}
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return base + strings.Join(parts, "/")
}

// Download streams a recording through the dashboard, with ranges
// (a browser seeks in it) and conditional requests, as a download.
func (a *Routes) Download() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		// A download holds a connection and a stream from the bucket: a few per
		// user at once, and none for longer than DownloadMax.
		who := a.Who(r)
		if !a.downloads.Take(who, a.PerPrincipal) {
			return api.NewError(http.StatusTooManyRequests, "too_many_downloads", fmt.Sprintf("at most %d downloads per user run at once (DASHBOARD_DOWNLOADS_PER_PRINCIPAL)", a.PerPrincipal))
		}
		defer a.downloads.Give(who)
		end := time.Now().Add(a.DownloadMax)
		ctx, cancel := context.WithDeadline(r.Context(), end) // ends the bucket's stream too
		defer cancel()
		// Open finds the object under the store's Timeout; reading it lasts as
		// long as the download, bounded by the write deadline below.
		obj, err := a.Store.Open(ctx, r.PathValue("key"))
		if err != nil {
			return err
		}
		defer obj.Close()
		h := w.Header()
		h.Set("Content-Type", obj.ContentType)
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(obj.Key)}))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
		h.Set("Cache-Control", "private, no-cache")
		if obj.ETag != "" {
			h.Set("ETag", strconv.Quote(obj.ETag))
		}
		http.ServeContent(&progressWriter{ResponseWriter: w, rc: http.NewResponseController(w), idle: a.WriteTimeout, end: end},
			r, path.Base(obj.Key), obj.LastModified, obj)
		return nil
	}
}

// progressWriter lets a long download run past the server's write timeout as
// long as it moves: each write pushes the deadline idle into the future, so a
// stalled client is still dropped. No deadline goes past end: a reader slow
// enough to keep moving is still cut there.
type progressWriter struct {
	http.ResponseWriter
	rc   *http.ResponseController
	idle time.Duration
	end  time.Time
}

func (p *progressWriter) Write(b []byte) (int, error) {
	if p.idle > 0 {
		d := time.Now().Add(p.idle)
		if !p.end.IsZero() && d.After(p.end) {
			d = p.end
		}
		_ = p.rc.SetWriteDeadline(d)
	}
	return p.ResponseWriter.Write(b)
}

// durationCache holds how long Ogg and MP4 recordings play, read from the files:
// egress's own figure (its pipeline's end less its start) was seconds short
// in our runs. A recording is never overwritten, so a key's length never
// changes: each file is read once (a stat and two small ranged reads), and the
// cache is bounded.
type durationCache struct {
	mu sync.Mutex
	m  map[string]time.Duration
}

// maxDurations bounds the cache; when full it starts again. maxDurationReads
// bounds the files one request reads (a stat and two ranged reads each): a page
// of 500 new recordings gets its lengths over several loads, not all at once.
const (
	maxDurations     = 4096
	MaxDurationReads = 8
)

// unknownLength marks a file whose length could not be read: it never changes
// either, so it is not read again.
const unknownLength = time.Duration(-1)

// of is f's length, read from the store when not known yet and *reads allows
// (it counts down).
func (c *durationCache) of(ctx context.Context, store Recordings, f recordings.Recording, reads *int) (time.Duration, bool) {
	// Files only: egress writes them once, at the end. A live HLS playlist
	// grows, so it keeps egress's figure.
	if f.Kind != recordings.KindFile || !(strings.HasSuffix(f.Key, ".ogg") || strings.HasSuffix(f.Key, ".mp4")) {
		return 0, false
	}
	c.mu.Lock()
	d, ok := c.m[f.Key]
	c.mu.Unlock()
	if ok {
		return d, d != unknownLength
	}
	if *reads <= 0 {
		return 0, false
	}
	*reads--
	d, err := store.Duration(ctx, f.Key)
	if err != nil {
		if ctx.Err() != nil {
			return 0, false // the caller left: try again another time
		}
		d = unknownLength // egress's figure, or none: a length is a nicety
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxDurations {
		c.m = make(map[string]time.Duration)
	}
	c.m[f.Key] = d
	c.mu.Unlock()
	return d, d != unknownLength
}

// Recordings is the archive the recordings routes read: *recordings.Store.
type Recordings interface {
	List(ctx context.Context, room string) ([]recordings.Recording, error)
	Link(ctx context.Context, r recordings.Recording, ttl time.Duration) (string, error)
	Open(ctx context.Context, key string) (*recordings.Object, error)
	Duration(ctx context.Context, key string) (time.Duration, error)
}
