//go:build linux || darwin

package node

import (
	"fmt"
	"syscall"
)

// DiskSpace returns the bytes free to this process, and the size, of the
// filesystem the home is on: a node whose disk fills stops committing.
func (h Home) DiskSpace() (free, size uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(string(h), &st); err != nil {
		return 0, 0, fmt.Errorf("disk space of %s: %w", h, err)
	}
	return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize), nil
}
