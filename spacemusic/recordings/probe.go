package recordings

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/keys"
)

// probeFolder holds Probe's object: a folder no recording is written to (egress
// and the recorder name files after rooms, and a room's folder is its name).
const probeFolder = ".streamkit-probe/"

// Probe steps, as a failed Probe's error names them (errs.Error.Op).
const (
	ProbeWrite    = "recordings.Probe write"
	ProbeRead     = "recordings.Probe read"
	ProbeDownload = "recordings.Probe download"
	ProbeDelete   = "recordings.Probe delete"
)

// Probe checks the bucket the way the show uses it: it writes a small object
// under a key of its own (never a recording's: the write refuses to replace
// anything), reads it back, fetches it through a download link signed for the
// public endpoint as a listener's browser would (with client; nil skips that
// step), and deletes it. A failure is an *errs.Error whose Op names the step.
func (s *Store) Probe(ctx context.Context, client *http.Client) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	key := probeFolder + keys.NewID() + ".txt"
	body := []byte("streamkit probe " + key + "\n")
	o := minio.PutObjectOptions{ContentType: "text/plain"}
	o.SetMatchETagExcept("*")
	if _, err := s.mc.PutObject(ctx, s.bucket, key, bytes.NewReader(body), int64(len(body)), o); err != nil {
		return mapErr(ProbeWrite, err)
	}
	err := s.probeRead(ctx, key, body, client)
	if rerr := s.mc.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err == nil && rerr != nil {
		err = mapErr(ProbeDelete, rerr)
	}
	return err
}

func (s *Store) probeRead(ctx context.Context, key string, want []byte, client *http.Client) error {
	obj, err := s.mc.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return mapErr(ProbeRead, err)
	}
	got, err := io.ReadAll(io.LimitReader(obj, 1<<10))
	obj.Close()
	if err != nil {
		return mapErr(ProbeRead, err)
	}
	if !bytes.Equal(got, want) {
		return &errs.Error{Op: ProbeRead, Kind: errs.ErrUpstream, Upstream: errs.Storage, Message: "the object read back differs from the one written"}
	}
	if client == nil {
		return nil
	}
	link, err := s.presign(ctx, ProbeDownload, key, time.Minute)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return errs.Relabel(ProbeDownload, err)
	}
	resp, err := client.Do(req)
	if err != nil { // never err itself: it quotes the signed link
		if e := errs.Transport(ProbeDownload, errs.Storage, err); e != nil {
			return e
		}
		return &errs.Error{Op: ProbeDownload, Kind: errs.ErrUnavailable, Upstream: errs.Storage, Message: "the public endpoint did not answer"}
	}
	defer resp.Body.Close()
	got, err = io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != http.StatusOK || err != nil || !bytes.Equal(got, want) {
		return &errs.Error{Op: ProbeDownload, Kind: errs.ErrUpstream, Upstream: errs.Storage,
			Message: fmt.Sprintf("a download link answered %d", resp.StatusCode)}
	}
	return nil
}
