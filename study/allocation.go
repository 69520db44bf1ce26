package study

import (
	"crypto/sha256"
	"encoding/binary"
)

// Allocate is the arm of the enrolment numbered n (from 1) of a study
// randomized with seed over arms: arms[SHA-256(seed ‖ n as 8 bytes
// big-endian) read as a big-endian uint64, modulo the number of arms].
// Simple randomization: every enrolment independently and uniformly (up to
// a bias below 2^-59), so that anyone holding the revealed seed recomputes
// every allocation. Empty with no arms.
func Allocate(seed []byte, n uint64, arms []Arm) string {
	if len(arms) == 0 {
		return ""
	}
	var num [8]byte
	binary.BigEndian.PutUint64(num[:], n)
	h := sha256.Sum256(append(append([]byte{}, seed...), num[:]...))
	return arms[binary.BigEndian.Uint64(h[:8])%uint64(len(arms))].ID
}
