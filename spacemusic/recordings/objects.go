package recordings

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/keys"
)

// Object is a recording opened for reading: seekable, so it can be served with
// HTTP ranges. Close it.
type Object struct {
	Recording
	ContentType string // by extension, never one a browser would run
	ETag        string
	body        *minio.Object
}

func (o *Object) Read(p []byte) (int, error) { return o.body.Read(p) }

func (o *Object) Seek(offset int64, whence int) (int64, error) { return o.body.Seek(offset, whence) }

func (o *Object) Close() error { return o.body.Close() }

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

// checkTTL: zero means DefaultLinkTTL; S3 presigns at most a week.
func checkTTL(op string, ttl time.Duration) error {
	if ttl != 0 && (ttl < time.Second || ttl > MaxLinkTTL) {
		return errs.Invalid(op, "link lifetime must be between 1s and %s", MaxLinkTTL)
	}
	return nil
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
