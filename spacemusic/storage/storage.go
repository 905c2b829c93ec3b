// Package storage is the one description of the recordings bucket: egress writes
// into it and recordings reads it, so both take this Config (read once from the
// MINIO_* variables, validated once, its region defaulted once).
package storage

import (
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
)

// DefaultRegion is used when none is set: egress fails on MinIO with an empty
// region (livekit/egress#828), and minio-go then never asks the store for it.
const DefaultRegion = "us-east-1"

// KeepForever as RetentionDays: recordings never expire (MINIO_RETENTION_DAYS=0).
const KeepForever = -1

// MaxRetentionDays bounds MINIO_RETENTION_DAYS (a century).
const MaxRetentionDays = 36500

// Config is where recordings go: MinIO or any S3-compatible store.
type Config struct {
	Endpoint  string // e.g. http://127.0.0.1:9000; empty for AWS S3
	Bucket    string
	Region    string // DefaultRegion when empty; see Region
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

// FromEnv reads MINIO_ENDPOINT, MINIO_BUCKET, MINIO_ACCESS_KEY,
// MINIO_SECRET_KEY, MINIO_REGION, MINIO_PUBLIC_ENDPOINT and
// MINIO_RETENTION_DAYS (days; 30 when unset, 0 keeps recordings forever).
func FromEnv(getenv func(string) string) Config {
	c := Config{Endpoint: getenv("MINIO_ENDPOINT"), Bucket: getenv("MINIO_BUCKET"), Region: getenv("MINIO_REGION"),
		AccessKey: getenv("MINIO_ACCESS_KEY"), SecretKey: getenv("MINIO_SECRET_KEY"), PublicEndpoint: getenv("MINIO_PUBLIC_ENDPOINT")}
	if v := strings.TrimSpace(getenv("MINIO_RETENTION_DAYS")); v != "" {
		switch days, err := strconv.Atoi(v); {
		case err != nil || days < 0 || days > MaxRetentionDays:
			c.badRetention = v
		case days == 0:
			c.RetentionDays = KeepForever
		default:
			c.RetentionDays = days
		}
	}
	return c
}

// Validate names what is missing, without echoing the secret. An empty
// endpoint is valid: it means AWS S3.
func (c Config) Validate() error {
	var p []string
	if c.Bucket == "" {
		p = append(p, "bucket (MINIO_BUCKET) is not set")
	}
	if c.AccessKey == "" || c.SecretKey == "" {
		p = append(p, "access and secret keys (MINIO_ACCESS_KEY, MINIO_SECRET_KEY) are required")
	}
	if c.Endpoint != "" {
		if _, err := c.EndpointURL(); err != nil {
			p = append(p, "endpoint (MINIO_ENDPOINT) must be an http(s) URL")
		}
	}
	if c.PublicEndpoint != "" {
		if u, err := url.Parse(c.PublicEndpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			p = append(p, "public endpoint (MINIO_PUBLIC_ENDPOINT) must be an http(s)://host:port URL")
		}
	}
	if c.badRetention != "" || c.RetentionDays < KeepForever || c.RetentionDays > MaxRetentionDays {
		p = append(p, fmt.Sprintf("retention (MINIO_RETENTION_DAYS) must be a whole number of days from 0 (keep forever) to %d", MaxRetentionDays))
	}
	if len(p) > 0 {
		return fmt.Errorf("storage: %s", strings.Join(p, "; "))
	}
	return nil
}

// EndpointURL is the store's API address: Endpoint, or AWS S3's when it is empty.
func (c Config) EndpointURL() (*url.URL, error) {
	if c.Endpoint == "" {
		return &url.URL{Scheme: "https", Host: "s3.amazonaws.com"}, nil
	}
	u, err := url.Parse(c.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("endpoint must be an http(s) URL")
	}
	return u, nil
}

// RegionOrDefault is Region, or DefaultRegion when it is empty. (A method
// cannot be named Region beside the field.)
func (c Config) RegionOrDefault() string {
	if c.Region == "" {
		return DefaultRegion
	}
	return c.Region
}

// String and LogValue keep the secret key out of logs.
func (c Config) String() string {
	return fmt.Sprintf("{Endpoint:%s Bucket:%s Region:%s AccessKey:%s SecretKey:[redacted] PublicEndpoint:%s RetentionDays:%d}",
		c.Endpoint, c.Bucket, c.RegionOrDefault(), c.AccessKey, c.PublicEndpoint, c.RetentionDays)
}

func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("endpoint", c.Endpoint), slog.String("publicEndpoint", c.PublicEndpoint),
		slog.String("bucket", c.Bucket), slog.String("region", c.RegionOrDefault()), slog.Int("retentionDays", c.RetentionDays))
}
