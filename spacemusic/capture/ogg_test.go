package capture

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
