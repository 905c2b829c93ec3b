//go:build !(linux || darwin || freebsd)

package capture

// diskFree cannot ask this system: only the spool's size limit applies.
func diskFree(string) (free, size int64) { return -1, -1 }
