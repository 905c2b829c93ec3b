package testenv

import (
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// The media slot is one flock for the whole machine: while a test of this binary
// holds it, another binary cannot take it; the tests of one binary share it (a test
// that starts Ingress and Egress does not deadlock), and it is free again once the
// last of them ended. (Dev mode starts its stack through internal/stack, which
// knows nothing of the slot: a dev server never blocks test runs.)
func TestMediaSlot(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir()) // private lock files: other test binaries may hold the real ones
	othersCanLock := func(lane int) bool {
		f, err := os.OpenFile(mediaSlotPath(lane), os.O_RDWR|os.O_CREATE, 0o666)
		require.NoError(t, err)
		defer f.Close() // closing drops a lock we got
		return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
	}

	t.Run("held", func(t *testing.T) {
		t.Setenv("STREAMKIT_MEDIA_LANES", "")
		holdMediaSlot(t)
		holdMediaSlot(t) // Ingress and Egress in one test
		t.Run("nested", func(t *testing.T) { holdMediaSlot(t) })
		require.False(t, othersCanLock(0), "another binary must wait while a test holds the slot")
	})
	require.True(t, othersCanLock(0), "released when the tests holding it ended")

	// With two lanes, a second binary takes the free one; a third waits.
	t.Run("two lanes", func(t *testing.T) {
		t.Setenv("STREAMKIT_MEDIA_LANES", "2")
		other, err := os.OpenFile(mediaSlotPath(0), os.O_RDWR|os.O_CREATE, 0o666)
		require.NoError(t, err)
		defer other.Close()
		require.NoError(t, syscall.Flock(int(other.Fd()), syscall.LOCK_EX|syscall.LOCK_NB), "another binary holds lane 0")
		holdMediaSlot(t)
		require.False(t, othersCanLock(1), "this binary took lane 1")
	})
	require.True(t, othersCanLock(1), "lane 1 released")

	// A heavy test takes every lane; what it starts later shares them.
	t.Run("all lanes", func(t *testing.T) {
		t.Setenv("STREAMKIT_MEDIA_LANES", "2")
		HoldAllMediaLanes(t)
		holdMediaSlot(t) // its Ingress and Egress
		require.False(t, othersCanLock(0), "lane 0 is held")
		require.False(t, othersCanLock(1), "lane 1 is held")
	})
	require.True(t, othersCanLock(0) && othersCanLock(1), "both released")
}
