//go:build linux || darwin || freebsd

package capture

import "syscall"

// diskFree is the free space (for unprivileged writers) and the size of the
// file system holding dir; -1, -1 when it cannot be asked.
func diskFree(dir string) (free, size int64) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1, -1
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Blocks) * int64(st.Bsize)
}
