package capture

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Durations are counted from what each Opus packet holds, not from RTP
// timestamps: 20 ms CELT, 60 ms SILK, two 10 ms frames, a code-3 packet of
// three 20 ms frames; garbage counts nothing.
func TestOpusSamplesAreReadFromTheTOC(t *testing.T) {
	for _, c := range []struct {
		p    []byte
		want int
	}{
		{[]byte{31 << 3}, 960},       // CELT FB 20 ms
		{[]byte{3 << 3}, 2880},       // SILK NB 60 ms
		{[]byte{14<<3 | 1}, 960},     // hybrid 10 ms, two frames
		{[]byte{31<<3 | 3, 3}, 2880}, // three 20 ms frames
		{[]byte{31<<3 | 3, 7}, 0},    // 140 ms: more than a packet may hold
		{[]byte{31<<3 | 3}, 0},       // code 3 without its count
		{nil, 0},
	} {
		assert.Equal(t, c.want, opusSamples(c.p), "%x", c.p)
	}
}

// A spool file cut mid-page by a dying process is read up to its last whole
// page: its granule is the samples of the pages before, and writing resumes
// there with the next page number.
func TestATornSpoolFileResumesAfterItsLastWholePage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "part.ogg")
	f, err := os.Create(path)
	require.NoError(t, err)
	w, err := newOggWriter(f, 7, 2)
	require.NoError(t, err)
	pkt := append([]byte{31 << 3}, bytes.Repeat([]byte{0xaa}, 300)...) // 20 ms, two lacing values
	for range 50 {
		_, err := w.write(pkt)
		require.NoError(t, err)
	}
	// 49 pages are written; the 50th packet is held until the next or close.
	st, err := f.Stat()
	require.NoError(t, err)
	_, err = f.Write([]byte("OggS\x00\x00torn"))
	require.NoError(t, err)
	require.NoError(t, f.Close())

	f, err = os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	end, serial, seq, granule, err := lastPage(f)
	require.NoError(t, err)
	assert.Equal(t, st.Size(), end, "the torn page is not counted")
	assert.Equal(t, uint32(7), serial)
	assert.Equal(t, uint32(2+49), seq, "two header pages and 49 audio pages")
	assert.Equal(t, uint64(49*960), granule, "0.98 s: the held packet died with the process")

	require.NoError(t, f.Truncate(end))
	_, err = f.Seek(end, 0)
	require.NoError(t, err)
	w = resumeOgg(f, serial, seq, granule)
	_, err = w.write(pkt)
	require.NoError(t, err)
	require.NoError(t, w.close())
	_, _, _, granule, err = lastPage(f)
	require.NoError(t, err)
	assert.Equal(t, uint64(50*960), granule)
}
