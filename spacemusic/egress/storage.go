package egress

import (
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"

	"github.com/livekit/protocol/livekit"
)

// DefaultRegion is used when none is set: egress fails on MinIO with an empty
// region (livekit/egress#828).
const DefaultRegion = "us-east-1"

// Storage is where recordings go: MinIO or any S3-compatible store.
type Storage struct {
	Endpoint  string // e.g. http://127.0.0.1:9000; empty for AWS S3
	Bucket    string
	Region    string // DefaultRegion when empty
	AccessKey string
	SecretKey string // never logged or returned

	// RetentionDays is the expiry rule put on a bucket we create (an existing
	// one is never changed): 0 means 30 days, KeepForever no rule.
	RetentionDays int
	// PublicEndpoint is the http(s)://host:port download links are signed for,
	// when browsers reach the store by another name than this process does.
	PublicEndpoint string

	badRetention string // MINIO_RETENTION_DAYS as read, when it is not a number of days
}

// KeepForever as RetentionDays: recordings never expire (MINIO_RETENTION_DAYS=0).
const KeepForever = -1

// MaxRetentionDays bounds MINIO_RETENTION_DAYS (a century).
const MaxRetentionDays = 36500

// StorageFromEnv reads MINIO_ENDPOINT, MINIO_BUCKET, MINIO_ACCESS_KEY,
// MINIO_SECRET_KEY, MINIO_REGION, MINIO_PUBLIC_ENDPOINT and
// MINIO_RETENTION_DAYS (days; 30 when unset, 0 keeps recordings forever).
func StorageFromEnv(getenv func(string) string) Storage {
	s := Storage{Endpoint: getenv("MINIO_ENDPOINT"), Bucket: getenv("MINIO_BUCKET"), Region: getenv("MINIO_REGION"),
		AccessKey: getenv("MINIO_ACCESS_KEY"), SecretKey: getenv("MINIO_SECRET_KEY"), PublicEndpoint: getenv("MINIO_PUBLIC_ENDPOINT")}
	if v := strings.TrimSpace(getenv("MINIO_RETENTION_DAYS")); v != "" {
		switch days, err := strconv.Atoi(v); {
		case err != nil || days < 0 || days > MaxRetentionDays:
			s.badRetention = v
		case days == 0:
			s.RetentionDays = KeepForever
		default:
			s.RetentionDays = days
		}
	}
	return s
}

// Validate names what is missing, without echoing the secret.
func (s Storage) Validate() error {
	var p []string
	if s.Bucket == "" {
		p = append(p, "bucket (MINIO_BUCKET) is not set")
	}
	if s.AccessKey == "" || s.SecretKey == "" {
		p = append(p, "access and secret keys (MINIO_ACCESS_KEY, MINIO_SECRET_KEY) are required")
	}
	if s.Endpoint != "" {
		if u, err := url.Parse(s.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p = append(p, "endpoint (MINIO_ENDPOINT) must be an http(s) URL")
		}
	}
	if s.PublicEndpoint != "" {
		if u, err := url.Parse(s.PublicEndpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			p = append(p, "public endpoint (MINIO_PUBLIC_ENDPOINT) must be an http(s)://host:port URL")
		}
	}
	if s.badRetention != "" || s.RetentionDays < KeepForever || s.RetentionDays > MaxRetentionDays {
		p = append(p, fmt.Sprintf("retention (MINIO_RETENTION_DAYS) must be a whole number of days from 0 (keep forever) to %d", MaxRetentionDays))
	}
	if len(p) > 0 {
		return fmt.Errorf("storage: %s", strings.Join(p, "; "))
	}
	return nil
}

// String and LogValue keep the secret key out of logs.
func (s Storage) String() string {
	return fmt.Sprintf("{Endpoint:%s Bucket:%s Region:%s AccessKey:%s SecretKey:[redacted] PublicEndpoint:%s RetentionDays:%d}",
		s.Endpoint, s.Bucket, s.region(), s.AccessKey, s.PublicEndpoint, s.RetentionDays)
}

func (s Storage) LogValue() slog.Value {
	return slog.GroupValue(slog.String("endpoint", s.Endpoint), slog.String("bucket", s.Bucket), slog.String("region", s.region()))
}

func (s Storage) region() string {
	if s.Region == "" {
		return DefaultRegion
	}
	return s.Region
}

// s3 is the upload target egress gets. Path-style addressing is forced: otherwise
// the bucket is put in front of MinIO's host name (livekit/protocol#223).
func (s Storage) s3() *livekit.S3Upload {
	return &livekit.S3Upload{AccessKey: s.AccessKey, Secret: s.SecretKey, Region: s.region(),
		Endpoint: s.Endpoint, Bucket: s.Bucket, ForcePathStyle: true}
}
