//go:build !linux && !darwin

package node

import (
	"errors"
	"runtime"
)

// DiskSpace is unknown on this system.
func (h Home) DiskSpace() (free, size uint64, err error) {
	return 0, 0, errors.New("disk space is not measured on " + runtime.GOOS)
}
