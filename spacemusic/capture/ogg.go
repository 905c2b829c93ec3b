package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"os"

	"github.com/spacemusic/streamkit/spacemusic/internal/ogg"
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
	if err := o.page(head, ogg.BOS, 0); err != nil {
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

// page writes one page holding one packet.
func (o *oggWriter) page(p []byte, flags byte, granule uint64) error {
	b, err := ogg.Build(flags, granule, o.serial, o.seq, p)
	if err != nil {
		return err
	}
	o.seq++
	_, err = o.w.Write(b)
	return err
}

// write adds an Opus packet; it reports the samples it holds (0 for a packet
// that is not Opus, which is dropped).
func (o *oggWriter) write(p []byte) (int, error) {
	n := ogg.OpusSamples(p)
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
	err := o.page(o.held, ogg.EOS, o.granule)
	o.held = nil
	return err
}

// lastPage reads an Ogg file an earlier process wrote and returns where its
// last whole page ends, that page's serial, next sequence number and granule
// position. A torn page at the end (the process died mid-write) is not counted.
func lastPage(f *os.File) (end int64, serial, seq uint32, granule uint64, err error) {
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, 1<<62), ogg.MaxPage)
	for {
		head, err := r.Peek(27)
		if err != nil {
			break
		}
		want := 27 + int(head[26])
		lacing, err := r.Peek(want)
		if err != nil {
			break
		}
		for _, l := range lacing[27:] {
			want += int(l)
		}
		b, err := r.Peek(want)
		if err != nil {
			break
		}
		pg, ok := ogg.Parse(b)
		if !ok {
			break
		}
		serial, seq, granule = pg.Serial, pg.Seq+1, uint64(pg.Granule)
		end += int64(pg.Size)
		_, _ = r.Discard(pg.Size)
	}
	if end == 0 {
		return 0, 0, 0, 0, errors.New("no whole Ogg page")
	}
	return end, serial, seq, granule, nil
}
