package egress

import (
	"fmt"
	"log/slog"
	"net/url"
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
}

// StorageFromEnv reads MINIO_ENDPOINT, MINIO_BUCKET, MINIO_ACCESS_KEY,
// MINIO_SECRET_KEY and MINIO_REGION.
func StorageFromEnv(getenv func(string) string) Storage {
	return Storage{Endpoint: getenv("MINIO_ENDPOINT"), Bucket: getenv("MINIO_BUCKET"), Region: getenv("MINIO_REGION"),
		AccessKey: getenv("MINIO_ACCESS_KEY"), SecretKey: getenv("MINIO_SECRET_KEY")}
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
	if len(p) > 0 {
		return fmt.Errorf("storage: %s", strings.Join(p, "; "))
	}
	return nil
}

// String and LogValue keep the secret key out of logs.
func (s Storage) String() string {
	return fmt.Sprintf("{Endpoint:%s Bucket:%s Region:%s AccessKey:%s SecretKey:[redacted]}", s.Endpoint, s.Bucket, s.region(), s.AccessKey)
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
