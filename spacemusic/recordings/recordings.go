// Package recordings is the show's archive: the bucket egress writes into, kept
// for 30 days like the seed's MinIO bucket, listed and handed out as short-lived
// download links.
package recordings

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/lifecycle"

	"github.com/spacemusic/streamkit/spacemusic/internal/names"
)

// Errors; test with errors.Is. Messages never contain keys.
var (
	ErrInvalidArgument = errors.New("invalid argument")
	ErrNotFound        = errors.New("not found")
	ErrUnauthorized    = errors.New("storage refused the credentials")
	ErrUnavailable     = errors.New("storage unavailable")
	ErrStorage         = errors.New("storage error") // any other failure the store reported
)

// Retention is how long recordings are kept (the seed's 30-day lifecycle).
const Retention = 30

// Link lifetimes.
const (
	DefaultLinkTTL = time.Hour
	MaxLinkTTL     = 7 * 24 * time.Hour // S3's limit for presigned URLs
)

// Config says where the bucket is.
type Config struct {
	Endpoint  string // http(s)://host:port of MinIO or S3
	Bucket    string
	Region    string // "us-east-1" when empty
	AccessKey string
	SecretKey string
}

// LogValue keeps the secret key out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("endpoint", c.Endpoint), slog.String("bucket", c.Bucket))
}

// Recording is one object in the bucket.
type Recording struct {
	Key          string    `json:"key"`
	Room         string    `json:"room"` // first path element: egress names files {room_name}/...
	Size         int64     `json:"size"`
	LastModified time.Time `json:"lastModified"`
}

// Store reads and maintains the recordings bucket.
type Store struct {
	mc     *minio.Client
	bucket string
	region string
}

// New checks cfg and connects lazily (no request is made here).
func New(cfg Config) (*Store, error) {
	u, err := url.Parse(cfg.Endpoint)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, fmt.Errorf("%w: endpoint must be an http(s) URL", ErrInvalidArgument)
	case cfg.Bucket == "":
		return nil, fmt.Errorf("%w: bucket is required", ErrInvalidArgument)
	case cfg.AccessKey == "" || cfg.SecretKey == "":
		return nil, fmt.Errorf("%w: access and secret keys are required", ErrInvalidArgument)
	}
	region := cfg.Region
	if region == "" {
		region = "us-east-1"
	}
	mc, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: u.Scheme == "https", Region: region, BucketLookup: minio.BucketLookupPath})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	return &Store{mc: mc, bucket: cfg.Bucket, region: region}, nil
}

// EnsureBucket creates the bucket if needed and sets the 30-day expiry rule.
func (s *Store) EnsureBucket(ctx context.Context) error {
	ok, err := s.mc.BucketExists(ctx, s.bucket)
	if err != nil {
		return mapErr("recordings.EnsureBucket", err)
	}
	if !ok {
		if err := s.mc.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: s.region}); err != nil {
			return mapErr("recordings.EnsureBucket", err)
		}
	}
	cfg := lifecycle.NewConfiguration()
	cfg.Rules = []lifecycle.Rule{{ID: "expire-recordings", Status: "Enabled",
		RuleFilter: lifecycle.Filter{Prefix: ""}, Expiration: lifecycle.Expiration{Days: Retention}}}
	return mapErr("recordings.EnsureBucket", s.mc.SetBucketLifecycle(ctx, s.bucket, cfg))
}

// RetentionDays reads the bucket's expiry rule back (0 when there is none).
func (s *Store) RetentionDays(ctx context.Context) (int, error) {
	cfg, err := s.mc.GetBucketLifecycle(ctx, s.bucket)
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

// List returns the recordings of a room (all rooms when room is empty), newest
// first. Manifests egress writes beside the media are left out.
func (s *Store) List(ctx context.Context, room string) ([]Recording, error) {
	prefix := ""
	if room != "" {
		// Rooms are folders of the bucket: the room-name rule, and no path tricks.
		if err := names.Check("room name", room); err != nil {
			return nil, fmt.Errorf("recordings.List: %w: %v", ErrInvalidArgument, err)
		}
		if strings.ContainsAny(room, "/\\") || strings.Contains(room, "..") {
			return nil, fmt.Errorf("recordings.List: %w: room name %q", ErrInvalidArgument, room)
		}
		prefix = room + "/"
	}
	var out []Recording
	for obj := range s.mc.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, mapErr("recordings.List", obj.Err)
		}
		if strings.HasSuffix(obj.Key, ".json") {
			continue
		}
		r := Recording{Key: obj.Key, Size: obj.Size, LastModified: obj.LastModified.UTC()}
		if i := strings.IndexByte(obj.Key, '/'); i > 0 {
			r.Room = obj.Key[:i]
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LastModified.After(out[j].LastModified) })
	return out, nil
}

// DownloadURL presigns a GET of key, valid for ttl (DefaultLinkTTL when 0), once
// the store confirms the object exists.
func (s *Store) DownloadURL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	const op = "recordings.DownloadURL"
	if err := checkTTL(op, ttl); err != nil {
		return "", err
	}
	if key == "" || strings.Contains(key, "..") || path.IsAbs(key) {
		return "", fmt.Errorf("%s: %w: key %q", op, ErrInvalidArgument, key)
	}
	if _, err := s.mc.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{}); err != nil {
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
	u, err := s.mc.PresignedGetObject(ctx, s.bucket, key, ttl, url.Values{})
	if err != nil {
		return "", mapErr(op, err)
	}
	return u.String(), nil
}

// checkTTL: zero means DefaultLinkTTL; S3 presigns at most a week.
func checkTTL(op string, ttl time.Duration) error {
	if ttl != 0 && (ttl < time.Second || ttl > MaxLinkTTL) {
		return fmt.Errorf("%s: %w: link lifetime must be between 1s and %s", op, ErrInvalidArgument, MaxLinkTTL)
	}
	return nil
}

func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "NoSuchBucket", "NoSuchKey", "NotFound":
		return fmt.Errorf("%s: %w: %s", op, ErrNotFound, resp.Message)
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch":
		return fmt.Errorf("%s: %w: %s", op, ErrUnauthorized, resp.Code)
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, ErrUnavailable)
	}
	if resp.StatusCode == 404 {
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	return fmt.Errorf("%s: %w: %s", op, ErrStorage, resp.Code)
}
