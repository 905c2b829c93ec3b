package recordings

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/spacemusic/streamkit/spacemusic/internal/errs"
	"github.com/spacemusic/streamkit/spacemusic/internal/ogg"
)

// Reads at either end of an Ogg file: the head holds OpusHead (its first
// page), the tail the last page, whose granule position is where the stream
// ends. An Ogg page is at most 65,307 bytes.
const (
	oggHead = 4 << 10
	oggTail = ogg.MaxPage
)

// Duration is how long an Ogg Opus recording plays, read from the file itself:
// the last page's granule position less the stream's pre-skip, at Opus' 48 kHz.
// Egress reports a duration of its own, its pipeline's end less its start, which
// we measured 3–4 s short of files of 5 s (egress v1.8.6); this is the file's.
// It costs a stat and two small ranged reads. Other formats are
// ErrInvalidArgument.
func (s *Store) Duration(ctx context.Context, key string) (time.Duration, error) {
	const op = "recordings.Duration"
	if err := CheckKey(key); err != nil {
		return 0, errs.Relabel(op, err)
	}
	if ext := strings.ToLower(path.Ext(key)); ext != ".ogg" && ext != ".opus" {
		return 0, errs.Invalid(op, "%q is not an Ogg recording", key)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	info, err := s.mc.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return 0, mapErr(op, err)
	}
	head, err := s.readRange(ctx, key, 0, min(info.Size, oggHead))
	if err != nil {
		return 0, mapErr(op, err)
	}
	tail, err := s.readRange(ctx, key, max(0, info.Size-oggTail), info.Size)
	if err != nil {
		return 0, mapErr(op, err)
	}
	d, err := oggOpusDuration(head, tail)
	if err != nil {
		return 0, &errs.Error{Op: op, Kind: errs.ErrFailedPrecondition, Message: fmt.Sprintf("%s: %v", key, err)}
	}
	return d, nil
}

// readRange reads bytes [from, to) of key.
func (s *Store) readRange(ctx context.Context, key string, from, to int64) ([]byte, error) {
	if to <= from {
		return nil, nil
	}
	o := minio.GetObjectOptions{}
	if err := o.SetRange(from, to-1); err != nil {
		return nil, err
	}
	obj, err := s.mc.GetObject(ctx, s.bucket, key, o)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	return io.ReadAll(io.LimitReader(obj, to-from))
}

// oggOpusDuration is the play time of an Ogg Opus stream from the start of
// its file (head) and its end (tail): the last page's granule position less
// where the first audio packet begins and the pre-skip (RFC 7845). A stream
// need not begin at granule 0 (a recorder that joins a live track may carry
// its clock), so the start is the first audio page's granule less the samples
// of the packets that end on it. Only whole pages whose CRC holds count:
// "OggS" can occur inside audio data.
func oggOpusDuration(head, tail []byte) (time.Duration, error) {
	first, ok := ogg.Parse(head)
	if !ok || !bytes.HasPrefix(first.Body, []byte("OpusHead")) || len(first.Body) < 12 {
		return 0, fmt.Errorf("no OpusHead in its first page")
	}
	preSkip := int64(binary.LittleEndian.Uint16(first.Body[10:]))
	start := int64(0)
	for rest := head[first.Size:]; len(rest) > 0; {
		pg, ok := ogg.Parse(rest)
		if !ok {
			break // the first audio page lies beyond the head: assume 0
		}
		rest = rest[pg.Size:]
		if pg.Granule > 0 {
			start = max(0, pg.Granule-pg.Samples())
			break
		}
	}
	for end := len(tail); end > 0; {
		j := bytes.LastIndex(tail[:end], []byte("OggS"))
		if j < 0 {
			break
		}
		end = j
		pg, ok := ogg.Parse(tail[j:])
		if !ok || pg.Granule < 0 { // not a page, or one that ends no packet
			continue
		}
		if pg.Granule-start <= preSkip {
			return 0, nil
		}
		return time.Duration(pg.Granule-start-preSkip) * time.Second / 48000, nil
	}
	return 0, fmt.Errorf("no whole Ogg page with a granule position in its last %d bytes", len(tail))
}
