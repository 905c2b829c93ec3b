// Package recordings is the show's archive: the bucket egress writes into (a
// bucket we create keeps recordings 30 days by default, as a show's MinIO
// bucket usually does), listed page by page with HLS runs as one recording each, opened for
// streaming and handed out as short-lived download links.
package recordings

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/lifecycle"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/internal/lk"
	"github.com/spacemusic/streamkit/spacemusic/keys"
	"github.com/spacemusic/streamkit/spacemusic/storage"
)

// Errors are *errs.Error (spacemusic.Error) with Upstream "storage" when the
// store answered: ErrNotFound, ErrUnauthorized (the store refused our keys),
// ErrUnavailable (down or too slow) and ErrUpstream (anything else it reported);
// bad input is ErrInvalidArgument. Messages never contain credentials.

// Retention is how many days a bucket we create keeps recordings by default
// (a 30-day lifecycle, MINIO_RETENTION_DAYS to change it).
const Retention = 30

// KeepForever as Config.RetentionDays sets no expiry rule (MINIO_RETENTION_DAYS=0).
const KeepForever = storage.KeepForever

// Link lifetimes.
const (
	DefaultLinkTTL = time.Hour
	MaxLinkTTL     = 7 * 24 * time.Hour // S3's limit for presigned URLs
)

// Config says where the bucket is (the one storage.Config egress also takes)
// and how long a call to it may take.
type Config struct {
	storage.Config

	// Timeout bounds every call to the store, like every call to LiveKit:
	// lk.DefaultTimeout when 0. A caller's earlier deadline still wins.
	Timeout time.Duration
	// HTTPClient, when set, lends its Transport to the store's client, so the
	// bucket shares the facade's connection pool.
	HTTPClient *http.Client
}

// Recording kinds.
const (
	KindFile = "file" // one object: an .ogg, .mp4, ...
	KindHLS  = "hls"  // a folder of segments and the playlist that is its key
)

// Recording is one object in the bucket, or one HLS run: every object of a
// folder (below the room's) that holds a .m3u8 playlist.
type Recording struct {
	Key          string    `json:"key"`  // the object; for HLS the playlist
	Room         string    `json:"room"` // first path element: egress names files {room_name}/...
	Kind         string    `json:"kind" enum:"file,hls"`
	Size         int64     `json:"size"`               // for HLS the whole folder's
	Segments     int       `json:"segments,omitempty"` // HLS: media segments in the folder
	LastModified time.Time `json:"lastModified"`       // for HLS the folder's newest object
}

// Store reads and maintains the recordings bucket.
type Store struct {
	mc        *minio.Client
	pub       *minio.Client // signs download links: mc, or a client for PublicEndpoint
	bucket    string
	region    string
	retention int
	timeout   time.Duration
}

// New checks cfg and connects lazily (no request is made here). An empty
// Endpoint means AWS S3.
func New(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, errs.Invalid(opNew, "%v", err)
	}
	if cfg.Timeout < 0 {
		return nil, errs.Invalid(opNew, "timeout must not be negative")
	}
	u, _ := cfg.EndpointURL() // validated above
	region := cfg.RegionOrDefault()
	var transport http.RoundTripper
	if cfg.HTTPClient != nil {
		transport = cfg.HTTPClient.Transport // nil: minio-go's default
	}
	// The region is always set: minio-go then never asks the store for it, so
	// presigning is pure computation, also for a host this process cannot reach.
	client := func(u *url.URL) (*minio.Client, error) {
		return minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
			Secure: u.Scheme == "https", Region: region, BucketLookup: minio.BucketLookupPath, Transport: transport})
	}
	mc, err := client(u)
	if err != nil {
		return nil, errs.Invalid(opNew, "%v", err)
	}
	s := &Store{mc: mc, pub: mc, bucket: cfg.Bucket, region: region, retention: cfg.RetentionDays, timeout: cfg.Timeout}
	if s.timeout == 0 {
		s.timeout = lk.DefaultTimeout
	}
	if cfg.PublicEndpoint != "" {
		pu, _ := url.Parse(cfg.PublicEndpoint) // validated above
		if s.pub, err = client(pu); err != nil {
			return nil, errs.Invalid(opNew, "public endpoint: %v", err)
		}
	}
	if s.retention == 0 {
		s.retention = Retention
	}
	return s, nil
}

// bound is the deadline every call to the store runs under: the Timeout from
// now, or the caller's when that is earlier. A hung store then fails as
// ErrUnavailable instead of holding the caller.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// EnsureBucket creates the bucket if it is missing, with the configured expiry
// rule. An existing bucket is left exactly as it is: it may be shared, and its
// lifecycle is its operator's.
func (s *Store) EnsureBucket(ctx context.Context) error {
	const op = "recordings.EnsureBucket"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	ok, err := s.mc.BucketExists(ctx, s.bucket)
	if err != nil {
		return mapErr(op, err)
	}
	if ok {
		return nil
	}
	if err := s.mc.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: s.region}); err != nil {
		if code := minio.ToErrorResponse(err).Code; code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists" {
			return nil // another process created it first: then it is that one's
		}
		return mapErr(op, err)
	}
	if s.retention == KeepForever {
		return nil
	}
	cfg := lifecycle.NewConfiguration()
	cfg.Rules = []lifecycle.Rule{{ID: "expire-recordings", Status: "Enabled",
		RuleFilter: lifecycle.Filter{Prefix: ""}, Expiration: lifecycle.Expiration{Days: lifecycle.ExpirationDays(s.retention)}}}
	return mapErr(op, s.mc.SetBucketLifecycle(ctx, s.bucket, cfg))
}

// RetentionDays reads the bucket's expiry rule back (0 when there is none).
func (s *Store) RetentionDays(ctx context.Context) (int, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	cfg, err := s.mc.GetBucketLifecycle(ctx, s.bucket)
	if minio.ToErrorResponse(err).Code == "NoSuchLifecycleConfiguration" {
		return 0, nil
	}
	if err != nil {
		return 0, mapErr("recordings.RetentionDays", err)
	}
	for _, r := range cfg.Rules {
		if r.Status == "Enabled" && r.Expiration.Days > 0 {
			return int(r.Expiration.Days), nil
		}
	}
	return 0, nil
}

// Page sizes of ListPage.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// ListOptions say which page of which room ListPage returns.
type ListOptions struct {
	Room   string // empty: every room
	Limit  int    // recordings per page: DefaultPageSize when 0, at most MaxPageSize
	Cursor string // Page.Next of the previous page; empty for the first
}

// Page is one page of recordings, newest first.
type Page struct {
	Recordings []Recording
	Next       string // cursor of the next page; empty on the last
}

// List returns all recordings of a room (all rooms when room is empty), newest
// first. Manifests egress writes beside the media are left out; an HLS run is
// one recording.
func (s *Store) List(ctx context.Context, room string) ([]Recording, error) {
	return s.scan(ctx, "recordings.List", room)
}

// ListPage returns one page of List. The store lists by key, not by time, so
// every page costs one listing of the room's folder: a caller serving many
// pages keeps List's answer for a while and cuts each page with Paginate.
func (s *Store) ListPage(ctx context.Context, o ListOptions) (Page, error) {
	const op = "recordings.ListPage"
	if _, _, err := o.check(); err != nil {
		return Page{}, errs.Relabel(op, err)
	}
	all, err := s.scan(ctx, op, o.Room)
	if err != nil {
		return Page{}, err
	}
	return Paginate(all, o)
}

// Paginate cuts the page o names from all, a List answer (newest first): the
// recordings after o.Cursor, at most o.Limit of them. The cursor is a position,
// not an index, so it stays right when recordings were added or expired since.
func Paginate(all []Recording, o ListOptions) (Page, error) {
	limit, after, err := o.check()
	if err != nil {
		return Page{}, err
	}
	from := 0
	if after != nil {
		from = sort.Search(len(all), func(i int) bool { return newerFirst(*after, all[i]) })
	}
	rest := all[from:]
	if len(rest) <= limit {
		return Page{Recordings: rest}, nil
	}
	return Page{Recordings: rest[:limit], Next: encodeCursor(rest[limit-1])}, nil
}

// check reads o's limit (DefaultPageSize when 0) and cursor.
func (o ListOptions) check() (int, *Recording, error) {
	const op = "recordings.Paginate"
	if o.Limit < 0 || o.Limit > MaxPageSize {
		return 0, nil, errs.Invalid(op, "limit must be between 1 and %d", MaxPageSize)
	}
	limit := o.Limit
	if limit == 0 {
		limit = DefaultPageSize
	}
	if o.Cursor == "" {
		return limit, nil, nil
	}
	c, err := DecodeCursor(o.Cursor)
	if err != nil {
		return 0, nil, errs.Relabel(op, err)
	}
	return limit, &c, nil
}

// newerFirst is the listing order: newest first, then by key.
func newerFirst(a, b Recording) bool {
	if !a.LastModified.Equal(b.LastModified) {
		return a.LastModified.After(b.LastModified)
	}
	return a.Key < b.Key
}

// Cursor is the cursor of the page that follows r: a caller that cuts a page
// shorter (one listing answering several page sizes) names where it ended.
func Cursor(r Recording) string { return encodeCursor(r) }

// A cursor is the position of the last recording of a page: its time and key.
// It stays right when recordings are added or expire between pages.
func encodeCursor(r Recording) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(r.LastModified.UnixNano(), 10) + "|" + r.Key))
}

// maxCursor bounds what DecodeCursor reads: a key of 1024 bytes and a time.
const maxCursor = 1500

// DecodeCursor reads a Page.Next back; anything else is ErrInvalidArgument.
func DecodeCursor(c string) (Recording, error) {
	bad := errs.Invalid("recordings.DecodeCursor", "cursor is not one this server handed out")
	if len(c) > maxCursor {
		return Recording{}, bad
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(c)
	if err != nil {
		return Recording{}, bad
	}
	ts, key, ok := strings.Cut(string(b), "|")
	nanos, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil || strconv.FormatInt(nanos, 10) != ts || keys.Check(key) != nil {
		return Recording{}, bad
	}
	return Recording{Key: key, LastModified: time.Unix(0, nanos).UTC()}, nil
}

// scan lists a room's folder (or the bucket), groups HLS runs and sorts.
func (s *Store) scan(ctx context.Context, op, room string) ([]Recording, error) {
	prefix := ""
	if room != "" {
		// Rooms are folders of the bucket: the room-name rule, and no path tricks.
		if err := keys.CheckRoom(room); err != nil {
			return nil, errs.Relabel(op, err)
		}
		prefix = room + "/"
	}
	// The whole listing is one call: its pages come under one deadline.
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var objs []Recording
	for obj := range s.mc.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, mapErr(op, obj.Err)
		}
		if strings.HasSuffix(obj.Key, ".json") {
			continue
		}
		objs = append(objs, Recording{Key: obj.Key, Room: keys.Room(obj.Key), Kind: KindFile, Size: obj.Size, LastModified: obj.LastModified.UTC()})
	}
	out := Group(objs)
	sort.Slice(out, func(i, j int) bool { return newerFirst(out[i], out[j]) })
	return out, nil
}

// Group makes every folder below a room's that holds a .m3u8 playlist one HLS
// recording: keyed by its playlist (not the rolling live.m3u8 when there is
// another), sized as the whole folder, dated by its newest object. Other objects
// stay files; a playlist in the room's own folder is a recording of its own.
// This fits both egress layouts: <room>/hls/playlist.m3u8 beside its segments,
// and one folder per run, <room>/hls/<stamp>-<id>/playlist.m3u8.
func Group(objs []Recording) []Recording {
	groups := map[string]*Recording{} // by folder, with a trailing slash
	for _, o := range objs {
		dir, name := path.Split(o.Key)
		if !strings.HasSuffix(name, ".m3u8") || strings.Count(dir, "/") < 2 {
			continue
		}
		g := groups[dir]
		if g == nil || betterPlaylist(name, path.Base(g.Key)) {
			groups[dir] = &Recording{Key: o.Key, Room: o.Room, Kind: KindHLS}
		}
	}
	var out []Recording
	for _, o := range objs {
		dir, name := path.Split(o.Key)
		g := groups[dir]
		if g == nil {
			if strings.HasSuffix(name, ".m3u8") {
				o.Kind = KindHLS
			}
			out = append(out, o)
			continue
		}
		g.Size += o.Size
		if ext := path.Ext(name); ext == ".ts" || ext == ".m4s" || ext == ".aac" {
			g.Segments++
		}
		if o.LastModified.After(g.LastModified) {
			g.LastModified = o.LastModified
		}
	}
	for _, g := range groups {
		out = append(out, *g)
	}
	return out
}

// betterPlaylist prefers the closed playlist to the rolling live one, then the
// first by name, so a folder's key does not change between listings.
func betterPlaylist(a, b string) bool {
	if (a == "live.m3u8") != (b == "live.m3u8") {
		return b == "live.m3u8"
	}
	return a < b
}

// Object is a recording opened for reading: seekable, so it can be served with
// HTTP ranges. Close it.
type Object struct {
	Recording
	ContentType string // by extension, never one a browser would run
	ETag        string
	body        *minio.Object
}

func (o *Object) Read(p []byte) (int, error)                   { return o.body.Read(p) }
func (o *Object) Seek(offset int64, whence int) (int64, error) { return o.body.Seek(offset, whence) }
func (o *Object) Close() error                                 { return o.body.Close() }

// Open opens the object key for reading, once the store confirms it exists.
func (s *Store) Open(ctx context.Context, key string) (*Object, error) {
	const op = "recordings.Open"
	if err := keys.Check(key); err != nil {
		return nil, errs.Relabel(op, err)
	}
	// The stat runs under the store's deadline; the body is read under the
	// caller's context alone, since streaming a long recording may take longer.
	sctx, cancel := s.bound(ctx)
	info, err := s.mc.StatObject(sctx, s.bucket, key, minio.StatObjectOptions{})
	cancel()
	if err != nil {
		if minio.ToErrorResponse(err).StatusCode == 400 { // a name the store will not take
			return nil, &errs.Error{Op: op, Kind: errs.ErrInvalidArgument, Upstream: errs.Storage, Message: fmt.Sprintf("the store refuses key %q", key)}
		}
		return nil, mapErr(op, err)
	}
	// GetObject makes no request until the first Read.
	body, err := s.mc.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, mapErr(op, err)
	}
	return &Object{Recording: Recording{Key: key, Room: keys.Room(key), Kind: KindFile, Size: info.Size, LastModified: info.LastModified.UTC()},
		ContentType: ContentType(key), ETag: info.ETag, body: body}, nil
}

// ContentType is the media type of a recording by its extension: what egress
// writes, or application/octet-stream.
func ContentType(key string) string {
	switch strings.ToLower(path.Ext(key)) {
	case ".ogg", ".opus":
		return "audio/ogg"
	case ".mp4":
		return "video/mp4"
	case ".m4a":
		return "audio/mp4"
	case ".webm":
		return "video/webm"
	case ".m3u8":
		return "application/vnd.apple.mpegurl"
	case ".ts":
		return "video/mp2t"
	case ".m4s":
		return "video/iso.segment"
	case ".aac":
		return "audio/aac"
	}
	return "application/octet-stream"
}

// DownloadURL presigns a GET of key, valid for ttl (DefaultLinkTTL when 0), once
// the store confirms the object exists.
func (s *Store) DownloadURL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	const op = "recordings.DownloadURL"
	if err := checkTTL(op, ttl); err != nil {
		return "", err
	}
	if key == "" || strings.Contains(key, "..") || path.IsAbs(key) {
		return "", errs.Invalid(op, "key %q", key)
	}
	sctx, cancel := s.bound(ctx)
	_, err := s.mc.StatObject(sctx, s.bucket, key, minio.StatObjectOptions{})
	cancel()
	if err != nil {
		return "", mapErr(op, err)
	}
	return s.presign(ctx, op, key, ttl)
}

// Link presigns a GET of a recording List just returned, without asking the
// store again: listing a thousand recordings costs one request, not a thousand.
func (s *Store) Link(ctx context.Context, r Recording, ttl time.Duration) (string, error) {
	return s.presign(ctx, "recordings.Link", r.Key, ttl)
}

func (s *Store) presign(ctx context.Context, op, key string, ttl time.Duration) (string, error) {
	if err := checkTTL(op, ttl); err != nil {
		return "", err
	}
	if ttl == 0 {
		ttl = DefaultLinkTTL
	}
	u, err := s.pub.PresignedGetObject(ctx, s.bucket, key, ttl, url.Values{})
	if err != nil {
		return "", mapErr(op, err)
	}
	return u.String(), nil
}

const opNew = "recordings.New"

// checkTTL: zero means DefaultLinkTTL; S3 presigns at most a week.
func checkTTL(op string, ttl time.Duration) error {
	if ttl != 0 && (ttl < time.Second || ttl > MaxLinkTTL) {
		return errs.Invalid(op, "link lifetime must be between 1s and %s", MaxLinkTTL)
	}
	return nil
}

func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	resp := minio.ToErrorResponse(err)
	e := &errs.Error{Op: op, Kind: errs.ErrUpstream, Upstream: errs.Storage, Code: resp.Code}
	switch resp.Code {
	case "NoSuchBucket", "NoSuchKey", "NotFound":
		e.Kind, e.Message = errs.ErrNotFound, resp.Message
		return e
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch":
		e.Kind = errs.ErrUnauthorized
		return e
	}
	if t := errs.Transport(op, errs.Storage, err); t != nil {
		return t
	}
	if resp.StatusCode == 404 {
		e.Kind = errs.ErrNotFound
	}
	return e
}

// Put uploads a recording this process made (the shows' own audio recorder)
// under key, which must be new (ErrAlreadyExists otherwise, and the object in
// the bucket stays as it was), streaming size bytes from r, with meta as the object's user
// metadata (short ASCII values: Stat reads them back). The upload runs under
// the caller's context alone: a long recording may take longer than Timeout.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, meta map[string]string) error {
	const op = "recordings.Put"
	if err := keys.Check(key); err != nil {
		return errs.Relabel(op, err)
	}
	o := minio.PutObjectOptions{ContentType: ContentType(key), UserMetadata: meta}
	o.SetMatchETagExcept("*") // If-None-Match: a recording is never overwritten
	_, err := s.mc.PutObject(ctx, s.bucket, key, r, size, o)
	if resp := minio.ToErrorResponse(err); resp.StatusCode == http.StatusPreconditionFailed {
		return &errs.Error{Op: op, Kind: errs.ErrAlreadyExists, Upstream: errs.Storage, Code: resp.Code,
			Message: fmt.Sprintf("%s is already in the bucket", key), Hint: "a recording is never overwritten"}
	}
	if err != nil {
		return mapErr(op, err)
	}
	return nil
}

// Stat is one recording with its user metadata (keys as Put was given them,
// in canonical header case, e.g. "Capture-Id").
func (s *Store) Stat(ctx context.Context, key string) (Recording, map[string]string, error) {
	const op = "recordings.Stat"
	if err := keys.Check(key); err != nil {
		return Recording{}, nil, errs.Relabel(op, err)
	}
	sctx, cancel := s.bound(ctx)
	defer cancel()
	info, err := s.mc.StatObject(sctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return Recording{}, nil, mapErr(op, err)
	}
	meta := map[string]string{}
	for k, v := range info.UserMetadata {
		meta[http.CanonicalHeaderKey(strings.TrimPrefix(strings.ToLower(k), "x-amz-meta-"))] = v
	}
	return Recording{Key: key, Room: keys.Room(key), Kind: KindFile, Size: info.Size, LastModified: info.LastModified.UTC()}, meta, nil
}
