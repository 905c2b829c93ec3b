package capture

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
)

// The Ogg Opus writer is ours rather than pion's oggwriter because a recording's
// duration must be exact: pion takes granule positions from RTP timestamps
// (the start of the last packet, not its end) and declares an 80 ms pre-skip
// that players cut from the music. Here every page carries one Opus packet and
// the granule position is the count of samples written up to its end, read
// from each packet's TOC byte; pre-skip is 0 (the stream is cut from a live
// encoder's, whose own start is not in it). Pages go straight to the file, so
// a process that dies leaves every page it wrote readable.

// rate is Opus's granule rate: 48 kHz whatever the encoder's bandwidth.
const rate = 48000

var crcTable = func() *crc32.Table {
	// Ogg's CRC: polynomial 0x04c11db7, not reflected, initial 0.
	var t crc32.Table
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
	return &t
}()

func oggCRC(b []byte) uint32 {
	var c uint32
	for _, x := range b {
		c = c<<8 ^ crcTable[byte(c>>24)^x]
	}
	return c
}

// Page header types.
const (
	pageBOS = 0x02
	pageEOS = 0x04
)

// oggWriter writes one logical Opus stream.
type oggWriter struct {
	w       io.Writer
	serial  uint32
	seq     uint32
	granule uint64 // samples written so far
	held    []byte // the last packet, written when the next comes (or with EOS)
}

func newOggWriter(w io.Writer, serial uint32, channels byte) (*oggWriter, error) {
	o := &oggWriter{w: w, serial: serial}
	head := []byte("OpusHead\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	head[9] = channels
	binary.LittleEndian.PutUint32(head[12:], rate)
	if err := o.page(head, pageBOS, 0); err != nil {
		return nil, err
	}
	tags := []byte("OpusTags\x09\x00\x00\x00streamkit\x00\x00\x00\x00")
	if err := o.page(tags, 0, 0); err != nil {
		return nil, err
	}
	return o, nil
}

// resumeOgg continues a stream an earlier process wrote: its serial, page
// sequence and granule position come from the file's last whole page.
func resumeOgg(w io.Writer, serial, seq uint32, granule uint64) *oggWriter {
	return &oggWriter{w: w, serial: serial, seq: seq, granule: granule}
}

// page writes one page holding one packet (at most 255*255 bytes: Opus packets
// are far smaller; a larger one is refused).
func (o *oggWriter) page(p []byte, kind byte, granule uint64) error {
	n := len(p)/255 + 1
	if n > 255 {
		return errors.New("opus packet too large for one page")
	}
	b := make([]byte, 27+n, 27+n+len(p))
	copy(b, "OggS")
	b[5] = kind
	binary.LittleEndian.PutUint64(b[6:], granule)
	binary.LittleEndian.PutUint32(b[14:], o.serial)
	binary.LittleEndian.PutUint32(b[18:], o.seq)
	b[26] = byte(n)
	for i := range n - 1 {
		b[27+i] = 255
	}
	b[27+n-1] = byte(len(p) % 255)
	b = append(b, p...)
	binary.LittleEndian.PutUint32(b[22:], oggCRC(b))
	o.seq++
	_, err := o.w.Write(b)
	return err
}

// write adds an Opus packet; it reports the samples it holds (0 for a packet
// that is not Opus, which is dropped).
func (o *oggWriter) write(p []byte) (int, error) {
	n := opusSamples(p)
	if n == 0 {
		return 0, nil
	}
	if o.held != nil {
		if err := o.page(o.held, 0, o.granule); err != nil {
			return 0, err
		}
	}
	o.held = append(o.held[:0], p...)
	o.granule += uint64(n)
	return n, nil
}

// flush writes the held packet as an ordinary page: the stream goes on later.
func (o *oggWriter) flush() error {
	if o.held == nil {
		return nil
	}
	err := o.page(o.held, 0, o.granule)
	o.held = nil
	return err
}

// close writes the held packet as the last page.
func (o *oggWriter) close() error {
	if o.held == nil {
		return nil
	}
	err := o.page(o.held, pageEOS, o.granule)
	o.held = nil
	return err
}

// opusSamples is how many 48 kHz samples an Opus packet holds (RFC 6716 3.1),
// 0 when it is malformed.
func opusSamples(p []byte) int {
	if len(p) == 0 {
		return 0
	}
	toc := p[0]
	cfg := int(toc >> 3)
	var frame int // in 48 kHz samples
	switch {
	case cfg < 12: // SILK: 10, 20, 40, 60 ms
		frame = []int{480, 960, 1920, 2880}[cfg%4]
	case cfg < 16: // hybrid: 10, 20 ms
		frame = []int{480, 960}[cfg%2]
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = []int{120, 240, 480, 960}[cfg%4]
	}
	var frames int
	switch toc & 3 {
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
	if n := frames * frame; n > 0 && n <= 5760 { // at most 120 ms
		return n
	}
	return 0
}

// lastPage reads an Ogg file an earlier process wrote and returns where its
// last whole page ends, that page's serial, next sequence number and granule
// position. A torn page at the end (the process died mid-write) is not counted.
func lastPage(f *os.File) (end int64, serial, seq uint32, granule uint64, err error) {
	var hdr [27]byte
	var pos int64
	for {
		if _, err := f.ReadAt(hdr[:], pos); err != nil {
			break
		}
		if string(hdr[:4]) != "OggS" {
			break
		}
		n := int(hdr[26])
		lace := make([]byte, n)
		if _, err := f.ReadAt(lace, pos+27); err != nil {
			break
		}
		body := 0
		for _, l := range lace {
			body += int(l)
		}
		whole := make([]byte, 27+n+body)
		if _, err := f.ReadAt(whole, pos); err != nil {
			break
		}
		want := binary.LittleEndian.Uint32(whole[22:])
		binary.LittleEndian.PutUint32(whole[22:], 0)
		if oggCRC(whole) != want {
			break
		}
		serial = binary.LittleEndian.Uint32(hdr[14:])
		seq = binary.LittleEndian.Uint32(hdr[18:]) + 1
		granule = binary.LittleEndian.Uint64(hdr[6:])
		pos += int64(len(whole))
		end = pos
	}
	if end == 0 {
		return 0, 0, 0, 0, errors.New("no whole Ogg page")
	}
	return end, serial, seq, granule, nil
}
