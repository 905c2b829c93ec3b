package egress

import (
	"github.com/livekit/protocol/livekit"

	"github.com/spacemusic/streamkit/spacemusic/storage"
)

// Storage is where recordings go. It is an alias of storage.Config, the one type
// egress and recordings share, so callers that name egress.Storage (the facade's
// Config, the dashboard, tests) keep compiling unchanged.
type Storage = storage.Config

// Aliases of storage's constants, for the same reason.
const (
	DefaultRegion    = storage.DefaultRegion
	KeepForever      = storage.KeepForever
	MaxRetentionDays = storage.MaxRetentionDays
)

// StorageFromEnv is storage.FromEnv.
func StorageFromEnv(getenv func(string) string) Storage { return storage.FromEnv(getenv) }

// target is the Storage a Service writes into; a local type because methods
// cannot be put on the alias.
type target struct{ Storage }

// s3 is the upload target egress gets. Path-style addressing is forced: otherwise
// the bucket is put in front of MinIO's host name (livekit/protocol#223).
func (t target) s3() *livekit.S3Upload {
	return &livekit.S3Upload{AccessKey: t.AccessKey, Secret: t.SecretKey, Region: t.RegionOrDefault(),
		Endpoint: t.Endpoint, Bucket: t.Bucket, ForcePathStyle: true}
}
