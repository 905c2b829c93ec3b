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
	t.Setenv("TMPDIR", t.TempDir()) // a private lock file: other test binaries may hold the real one
	othersCanLock := func() bool {
		f, err := os.OpenFile(mediaSlotPath(), os.O_RDWR|os.O_CREATE, 0o666)
		require.NoError(t, err)
		defer f.Close() // closing drops a lock we got
		return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
	}

	t.Run("held", func(t *testing.T) {
		holdMediaSlot(t)
		holdMediaSlot(t) // Ingress and Egress in one test
		t.Run("nested", func(t *testing.T) { holdMediaSlot(t) })
		require.False(t, othersCanLock(), "another binary must wait while a test holds the slot")
	})
	require.True(t, othersCanLock(), "released when the tests holding it ended")
}
