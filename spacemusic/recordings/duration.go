package recordings

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/internal/ogg"
	"github.com/spacemusic/streamkit/spacemusic/keys"
)

// Reads at either end of an Ogg file: the head holds OpusHead (its first
// page), the tail the last page, whose granule position is where the stream
// ends. An Ogg page is at most 65,307 bytes.
const (
	oggHead = 4 << 10
	oggTail = ogg.MaxPage
)

// Duration is how long a recording plays, read from the file itself, for the
// formats egress writes:
//   - Ogg Opus: the last page's granule position less where the stream begins
//     and its pre-skip (a stat and two small ranged reads);
//   - MP4: the movie header's duration, found by walking the top-level boxes
//     (a few ranged reads of a few bytes each, wherever egress put moov);
//   - an HLS playlist: the sum of its segments' #EXTINF.
//
// Egress reports a duration of its own, its pipeline's start to the stop we
// asked for, while a stopped pipeline drains for seconds more into the file
// (egress v1.8.6); this is the file's. Other formats are ErrInvalidArgument, a
// file that is not what its name says ErrFailedPrecondition.
func (s *Store) Duration(ctx context.Context, key string) (time.Duration, error) {
	const op = "recordings.Duration"
	if err := keys.Check(key); err != nil {
		return 0, errs.Relabel(op, err)
	}
	var read func(context.Context, string, int64) (time.Duration, error)
	switch strings.ToLower(path.Ext(key)) {
	case ".ogg", ".opus":
		read = s.oggDuration
	case ".mp4", ".m4a":
		read = s.mp4Duration
	case ".m3u8":
		read = s.playlistDuration
	default:
		return 0, errs.Invalid(op, "%q is not a recording whose length can be read (Ogg, MP4 or an HLS playlist)", key)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	info, err := s.mc.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return 0, mapErr(op, err)
	}
	d, err := read(ctx, key, info.Size)
	var bad badFile
	if errors.As(err, &bad) {
		return 0, &errs.Error{Op: op, Kind: errs.ErrFailedPrecondition, Message: fmt.Sprintf("%s: %v", key, err)}
	}
	if err != nil {
		return 0, mapErr(op, err)
	}
	return d, nil
}

// badFile is a file that is not what its name says; any other error is the
// bucket's.
type badFile struct{ error }

func notAsNamed(format string, a ...any) error { return badFile{fmt.Errorf(format, a...)} }

func (s *Store) oggDuration(ctx context.Context, key string, size int64) (time.Duration, error) {
	head, err := s.readRange(ctx, key, 0, min(size, oggHead))
	if err != nil {
		return 0, err
	}
	tail, err := s.readRange(ctx, key, max(0, size-oggTail), size)
	if err != nil {
		return 0, err
	}
	d, err := oggOpusDuration(head, tail)
	if err != nil {
		return 0, badFile{err}
	}
	return d, nil
}

// mp4Duration walks the file's top-level boxes (ftyp, mdat, moov, ... in any
// order) reading only their headers, then the start of moov, whose first
// child egress and ffmpeg write is mvhd.
func (s *Store) mp4Duration(ctx context.Context, key string, size int64) (time.Duration, error) {
	for pos, boxes := int64(0), 0; pos+8 <= size && boxes < 64; boxes++ {
		h, err := s.readRange(ctx, key, pos, min(size, pos+16))
		if err != nil {
			return 0, err
		}
		if len(h) < 8 {
			return 0, notAsNamed("a box cut short at %d", pos)
		}
		n, kind, hdr := int64(binary.BigEndian.Uint32(h)), string(h[4:8]), int64(8)
		switch {
		case n == 1 && len(h) >= 16: // a 64-bit size follows
			n, hdr = int64(binary.BigEndian.Uint64(h[8:])), 16
		case n == 0: // to the end of the file
			n = size - pos
		}
		if n < hdr || pos+n > size {
			return 0, notAsNamed("a broken %q box at %d", kind, pos)
		}
		if kind == "moov" {
			b, err := s.readRange(ctx, key, pos+hdr, min(pos+n, pos+hdr+512))
			if err != nil {
				return 0, err
			}
			d, err := mvhdDuration(b)
			if err != nil {
				return 0, badFile{err}
			}
			return d, nil
		}
		pos += n
	}
	return 0, notAsNamed("no moov box")
}

// mvhdDuration reads the movie header among the first children of moov.
func mvhdDuration(moov []byte) (time.Duration, error) {
	for len(moov) >= 8 {
		n := int(binary.BigEndian.Uint32(moov))
		if string(moov[4:8]) == "mvhd" && len(moov) >= 32 {
			var scale, dur uint64
			if moov[8] == 1 { // version 1: 64-bit times
				if len(moov) < 44 {
					break
				}
				scale, dur = uint64(binary.BigEndian.Uint32(moov[28:])), binary.BigEndian.Uint64(moov[32:])
			} else {
				scale, dur = uint64(binary.BigEndian.Uint32(moov[20:])), uint64(binary.BigEndian.Uint32(moov[24:]))
			}
			if scale == 0 || dur == 0 || dur == 1<<32-1 || dur > scale*1e6 { // unknown, or fragments carry it
				return 0, fmt.Errorf("the movie header gives no duration")
			}
			return time.Duration(dur * uint64(time.Second) / scale), nil
		}
		if n < 8 || n > len(moov) {
			break
		}
		moov = moov[n:]
	}
	return 0, fmt.Errorf("no movie header at the start of moov")
}

// maxPlaylist bounds the playlist read: 1 MiB is some 20,000 segments.
const maxPlaylist = 1 << 20

// playlistDuration sums the #EXTINF of an HLS playlist.
func (s *Store) playlistDuration(ctx context.Context, key string, size int64) (time.Duration, error) {
	if size > maxPlaylist {
		return 0, notAsNamed("a playlist of %d bytes", size)
	}
	b, err := s.readRange(ctx, key, 0, size)
	if err != nil {
		return 0, err
	}
	if !bytes.HasPrefix(b, []byte("#EXTM3U")) {
		return 0, notAsNamed("not an HLS playlist")
	}
	var total float64
	for _, line := range strings.Split(string(b), "\n") {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "#EXTINF:")
		if !ok {
			continue
		}
		v, _, _ = strings.Cut(v, ",")
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f >= 0 && f <= 86400) { // NaN too
			return 0, notAsNamed("a segment of %q seconds", v)
		}
		total += f
	}
	return time.Duration(total * float64(time.Second)).Round(time.Millisecond), nil
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
