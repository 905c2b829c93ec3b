// Package recordings is the show's archive: the bucket egress writes into (a
// bucket we create keeps recordings 30 days by default, as a show's MinIO
// bucket usually does), listed page by page with HLS runs as one recording each, opened for
// streaming and handed out as short-lived download links.
package recordings

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/lifecycle"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/internal/lk"
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

const opNew = "recordings.New"

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
