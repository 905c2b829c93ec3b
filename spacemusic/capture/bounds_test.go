package capture

import (
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/spacemusic/errs"
)

// DASHBOARD_SPOOL_MIN_FREE is a percentage of the file system or bytes;
// anything else is a typed error naming what is wanted.
func TestFreeSpaceFloorsParse(t *testing.T) {
	for in, want := range map[string]Free{"5%": {Percent: 5}, " 0.5 %": {Percent: 0.5}, "1073741824": {Bytes: 1 << 30}, "0": {}} {
		got, err := ParseFree(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "%", "-1", "-5%", "100%", "NaN%", "1GiB", "5 percent"} {
		_, err := ParseFree(in)
		assert.ErrorIs(t, err, errs.ErrInvalidArgument, "%q", in)
	}
	assert.Equal(t, "5%", Free{Percent: 5}.String())
}

// Each bound holds audio back on its own, counting what a packet's page will
// need before it is written; an unknown file system leaves the size limit.
func TestSpoolBoundsAdmitPagesWithinThem(t *testing.T) {
	r := &Recorder{cfg: Config{Dir: t.TempDir(), MaxBytes: 1000}, fsFree: -1}
	ok, _ := r.admit(1000)
	assert.True(t, ok, "up to the limit")
	r.grew(990)
	ok, why := r.admit(11)
	assert.False(t, ok)
	assert.Contains(t, why, "limit is 1000")
	r.shrank(990)

	free, size := diskFree(r.cfg.Dir)
	require.Positive(t, free)
	r.cfg.MaxBytes, r.cfg.MinFree = 0, Free{Bytes: free + 1<<40} // more than the disk has
	ok, why = r.admit(1)
	assert.False(t, ok)
	assert.Contains(t, why, "free")
	// 256 MiB above the floor: other processes write to this disk too.
	require.Greater(t, free, int64(1<<30), "the test needs a GiB free")
	r.cfg.MinFree = Free{Percent: 100 * float64(free-(256<<20)) / float64(size)}
	r.fsAt = r.fsAt.AddDate(-1, 0, 0)
	ok, _ = r.admit(1 << 10)
	assert.True(t, ok, "a kilobyte fits above the floor")
	r.grew(512 << 20) // written since the file system was asked
	ok, _ = r.admit(1 << 10)
	assert.False(t, ok, "what was written since the last look counts")
	assert.Equal(t, int64(27+1+100), pageSize(make([]byte, 100)))
	assert.Equal(t, int64(27+2+300), pageSize(make([]byte, 300)))
}

// The admission runs once per packet (50 a second per show): its cost against
// the page building it guards, in the same run.
func BenchmarkSpoolAdmit(b *testing.B) {
	r := &Recorder{cfg: Config{Dir: b.TempDir(), MaxBytes: DefaultMaxBytes, MinFree: DefaultMinFree}, fsFree: -1}
	pkt := make([]byte, 160) // a 20 ms Opus packet at 64 kbit/s
	b.Run("admit", func(b *testing.B) {
		for b.Loop() {
			if ok, _ := r.admit(pageSize(pkt)); !ok {
				b.Fatal("refused")
			}
		}
	})
	b.Run("baseline-page", func(b *testing.B) {
		w := &oggWriter{w: io.Discard, serial: 1}
		for b.Loop() {
			if err := w.page(pkt, 0, 960); err != nil {
				b.Fatal(err)
			}
		}
	})
}
