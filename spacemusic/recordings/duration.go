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
)

// Reads at either end of an Ogg file: the head holds OpusHead (its first
// page), the tail the last page, whose granule position is where the stream
// ends. An Ogg page is at most 65,307 bytes.
const (
	oggHead = 4 << 10
	oggTail = 64 << 10
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
// of the packets that end on it. Pages are trusted only when their CRC holds:
// "OggS" can occur inside audio data.
func oggOpusDuration(head, tail []byte) (time.Duration, error) {
	first, ok := parsePage(head)
	if !ok || !bytes.HasPrefix(first.body, []byte("OpusHead")) || len(first.body) < 12 {
		return 0, fmt.Errorf("no OpusHead in its first page")
	}
	preSkip := int64(binary.LittleEndian.Uint16(first.body[10:]))
	start := int64(0)
	for rest := head[first.size:]; len(rest) > 0; {
		pg, ok := parsePage(rest)
		if !ok {
			break // the first audio page lies beyond the head: assume 0
		}
		rest = rest[pg.size:]
		if pg.granule > 0 {
			start = max(0, pg.granule-pg.samples())
			break
		}
	}
	for end := len(tail); end > 0; {
		j := bytes.LastIndex(tail[:end], []byte("OggS"))
		if j < 0 {
			break
		}
		end = j
		pg, ok := parsePage(tail[j:])
		if !ok || pg.granule < 0 { // not a page, or one that ends no packet
			continue
		}
		if pg.granule-start <= preSkip {
			return 0, nil
		}
		return time.Duration(pg.granule-start-preSkip) * time.Second / 48000, nil
	}
	return 0, fmt.Errorf("no whole Ogg page with a granule position in its last %d bytes", len(tail))
}

// oggPage is one Ogg page: its granule position, its packets' lengths (the
// last may go on in the next page) and its body.
type oggPage struct {
	granule int64
	cont    bool // the first packet began on an earlier page
	lacing  []byte
	body    []byte
	size    int
}

// parsePage reads the page at the start of b, if b holds a whole page whose
// CRC matches.
func parsePage(b []byte) (oggPage, bool) {
	if len(b) < 27 || !bytes.HasPrefix(b, []byte("OggS")) || b[4] != 0 {
		return oggPage{}, false
	}
	n := int(b[26])
	if len(b) < 27+n {
		return oggPage{}, false
	}
	lacing := b[27 : 27+n]
	bodyLen := 0
	for _, l := range lacing {
		bodyLen += int(l)
	}
	size := 27 + n + bodyLen
	if len(b) < size {
		return oggPage{}, false
	}
	if binary.LittleEndian.Uint32(b[22:]) != oggCRC(b[:size]) {
		return oggPage{}, false
	}
	return oggPage{granule: int64(binary.LittleEndian.Uint64(b[6:])), cont: b[5]&1 != 0,
		lacing: lacing, body: b[27+n : size], size: size}, true
}

// samples is how many 48 kHz samples the packets that begin and end on this
// page hold, by their Opus TOC bytes.
func (p oggPage) samples() int64 {
	var total int64
	off, from := 0, 0
	skip := p.cont // a packet begun elsewhere: its TOC is not here
	for _, l := range p.lacing {
		off += int(l)
		if l == 255 {
			continue
		}
		if !skip {
			total += opusSamples(p.body[from:off])
		}
		skip = false
		from = off
	}
	return total
}

// opusSamples is the length of one Opus packet at 48 kHz (RFC 6716 3.1).
func opusSamples(pkt []byte) int64 {
	if len(pkt) == 0 {
		return 0
	}
	config := pkt[0] >> 3
	var per int64 // samples per frame
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		per = [4]int64{480, 960, 1920, 2880}[config%4]
	case config < 16: // hybrid: 10, 20 ms
		per = [2]int64{480, 960}[config%2]
	default: // CELT: 2.5, 5, 10, 20 ms
		per = [4]int64{120, 240, 480, 960}[config%4]
	}
	switch pkt[0] & 3 {
	case 0:
		return per
	case 1, 2:
		return 2 * per
	default:
		if len(pkt) < 2 {
			return 0
		}
		return per * int64(pkt[1]&0x3f)
	}
}

// oggCRC is the Ogg page checksum (polynomial 0x04c11db7, MSB first, no
// reflection) with the checksum field taken as zero.
func oggCRC(page []byte) uint32 {
	var crc uint32
	for i, c := range page {
		if i >= 22 && i < 26 {
			c = 0
		}
		crc = crc<<8 ^ oggTable[byte(crc>>24)^c]
	}
	return crc
}

var oggTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()
