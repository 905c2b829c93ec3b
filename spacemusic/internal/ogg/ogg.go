// Package ogg holds the little of Ogg (RFC 3533) and Ogg Opus (RFC 7845) that
// streamkit needs: the shows' recorder writes pages, and the recordings store
// reads a file's first and last pages to say how long it plays.
package ogg

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// OpusMaxBitrate is Opus' ceiling in bits per second (RFC 6716: 510 kbit/s),
// the one figure egress's and ingress's bounds are read from.
const OpusMaxBitrate = 510_000

// Page header flags.
const (
	Continued = 0x01 // the first packet began on an earlier page
	BOS       = 0x02 // the first page of a stream
	EOS       = 0x04 // the last page of a stream
)

// MaxPage is the largest an Ogg page can be: a header, 255 lacing values and
// 255 segments of 255 bytes.
const MaxPage = 27 + 255 + 255*255

// Page is one Ogg page.
type Page struct {
	Flags   byte
	Granule int64 // -1 when no packet ends on the page
	Serial  uint32
	Seq     uint32
	Lacing  []byte // segment lengths: a packet ends at each value below 255
	Body    []byte
	Size    int // header and body, in bytes
}

// Parse reads the page at the start of b. It answers false unless b holds a
// whole page whose CRC matches: "OggS" can occur inside audio data, and a
// process that dies mid-write leaves a torn last page.
func Parse(b []byte) (Page, bool) {
	if len(b) < 27 || !bytes.HasPrefix(b, []byte("OggS")) || b[4] != 0 {
		return Page{}, false
	}
	n := int(b[26])
	if len(b) < 27+n {
		return Page{}, false
	}
	lacing := b[27 : 27+n]
	size := 27 + n
	for _, l := range lacing {
		size += int(l)
	}
	if len(b) < size || binary.LittleEndian.Uint32(b[22:]) != checksum(b[:size]) {
		return Page{}, false
	}
	return Page{Flags: b[5], Granule: int64(binary.LittleEndian.Uint64(b[6:])),
		Serial: binary.LittleEndian.Uint32(b[14:]), Seq: binary.LittleEndian.Uint32(b[18:]),
		Lacing: lacing, Body: b[27+n : size], Size: size}, true
}

// Build makes one page holding whole packets.
func Build(flags byte, granule uint64, serial, seq uint32, packets ...[]byte) ([]byte, error) {
	var lacing []byte
	body := 0
	for _, p := range packets {
		for n := len(p); ; n -= 255 {
			if n < 255 {
				lacing = append(lacing, byte(n))
				break
			}
			lacing = append(lacing, 255)
		}
		body += len(p)
	}
	if len(lacing) > 255 {
		return nil, errors.New("ogg: packets too large for one page")
	}
	b := make([]byte, 27, 27+len(lacing)+body)
	copy(b, "OggS")
	b[5] = flags
	binary.LittleEndian.PutUint64(b[6:], granule)
	binary.LittleEndian.PutUint32(b[14:], serial)
	binary.LittleEndian.PutUint32(b[18:], seq)
	b[26] = byte(len(lacing))
	b = append(b, lacing...)
	for _, p := range packets {
		b = append(b, p...)
	}
	binary.LittleEndian.PutUint32(b[22:], checksum(b))
	return b, nil
}

// Samples is how many 48 kHz samples the Opus packets that begin and end on
// the page hold.
func (p Page) Samples() int64 {
	var total int64
	from, off := 0, 0
	skip := p.Flags&Continued != 0 // its TOC byte is on an earlier page
	for _, l := range p.Lacing {
		off += int(l)
		if l == 255 {
			continue
		}
		if !skip {
			total += int64(OpusSamples(p.Body[from:off]))
		}
		skip = false
		from = off
	}
	return total
}

// OpusSamples is how many 48 kHz samples an Opus packet holds, read from its
// TOC byte (RFC 6716 3.1); 0 when it is malformed.
func OpusSamples(p []byte) int {
	if len(p) == 0 {
		return 0
	}
	cfg := int(p[0] >> 3)
	var frame int
	switch {
	case cfg < 12: // SILK: 10, 20, 40, 60 ms
		frame = []int{480, 960, 1920, 2880}[cfg%4]
	case cfg < 16: // hybrid: 10, 20 ms
		frame = []int{480, 960}[cfg%2]
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = []int{120, 240, 480, 960}[cfg%4]
	}
	var frames int
	switch p[0] & 3 {
	case 0:
		frames = 1
	case 1, 2:
		frames = 2
	default:
		if len(p) < 2 {
			return 0
		}
		frames = int(p[1] & 0x3f)
	}
	if n := frames * frame; n > 0 && n <= 5760 { // a packet holds at most 120 ms
		return n
	}
	return 0
}

// checksum is Ogg's CRC of a page (polynomial 0x04c11db7, not reflected,
// initial 0), its own field read as zero.
func checksum(page []byte) uint32 {
	var c uint32
	for i, x := range page {
		if i >= 22 && i < 26 {
			x = 0
		}
		c = c<<8 ^ table[byte(c>>24)^x]
	}
	return c
}

var table = func() (t [256]uint32) {
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
