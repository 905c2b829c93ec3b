package recordings

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/spacemusic/internal/ogg"
)

// page builds one Ogg page holding packets, each ending on it.
func page(t *testing.T, seq uint32, granule int64, packets ...[]byte) []byte {
	t.Helper()
	pg, err := ogg.Build(0, uint64(granule), 7, seq, packets...)
	require.NoError(t, err)
	return pg
}

func opusHead(preSkip uint16) []byte {
	h := []byte("OpusHead\x01\x02\x00\x00\x80\xbb\x00\x00\x00\x00\x00")
	binary.LittleEndian.PutUint16(h[10:], preSkip)
	return h
}

// A 20 ms CELT frame (config 31, one frame) with a little payload.
var frame20ms = []byte{31 << 3, 1, 2, 3}

// fakePage looks like an empty Ogg page at granule 100 s but its CRC is wrong:
// audio data that happens to spell "OggS".
var fakePage = []byte("OggS\x00\x00\x00\xb0\x49\x00\x00\x00\x00\x00\x07\x00\x00\x00\x01\x00\x00\x00\xde\xad\xbe\xef\x00")

// A file's length is where its last page ends, less where its first audio
// packet begins and the pre-skip: whether the stream starts at granule 0 or
// carries a live clock, whether "OggS" shows up inside audio after the last
// page, and whether the file was cut mid-page (a recorder that died).
func TestOggLengthFromBothEnds(t *testing.T) {
	const preSkip = 312
	stream := func(start int64, pages int) []byte {
		var b bytes.Buffer
		b.Write(page(t, 0, 0, opusHead(preSkip)))
		b.Write(page(t, 1, 0, []byte("OpusTags\x00\x00\x00\x00\x00\x00\x00\x00")))
		g := start
		for i := range pages { // 50 frames a page: one second
			pk := make([][]byte, 50)
			for j := range pk {
				pk[j] = frame20ms
			}
			g += 50 * 960
			b.Write(page(t, uint32(2+i), g, pk...))
		}
		return b.Bytes()
	}
	for _, c := range []struct {
		name string
		file []byte
		want time.Duration
	}{
		{"from granule 0", stream(0, 7), 7*time.Second - preSkip*time.Second/48000},
		{"on a live clock", stream(48000*3600, 7), 7*time.Second - preSkip*time.Second/48000},
		{"OggS in the last packet's audio", append(stream(0, 3), page(t, 9, 3*48000+960, append(append([]byte{}, frame20ms...), fakePage...))...), 3*time.Second + 20*time.Millisecond - preSkip*time.Second/48000},
		{"cut mid-page", stream(0, 5)[:len(stream(0, 5))-100], 4*time.Second - preSkip*time.Second/48000},
	} {
		head := c.file[:min(len(c.file), oggHead)]
		tail := c.file[max(0, len(c.file)-oggTail):]
		got, err := oggOpusDuration(head, tail)
		require.NoError(t, err, c.name)
		assert.Equal(t, c.want, got, c.name)
	}

	_, err := oggOpusDuration([]byte("OggS but not a page"), nil)
	assert.Error(t, err, "no OpusHead")
	broken := stream(0, 2)
	broken[len(broken)-1] ^= 0xff // the last page's CRC fails, and no other page ends a packet in the tail
	_, err = oggOpusDuration(broken, broken[len(broken)-200:])
	assert.Error(t, err, "no whole page in the tail")
}
