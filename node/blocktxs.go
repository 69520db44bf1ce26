package node

import (
	"fmt"
)

// CommittedTxs calls fn with each transaction in the blocks of the stopped
// node at h, by height: an offline reader of what a node's data directory
// holds (a test scans a competitor's node with it). The stores are opened
// read-only, as VerifyHome opens them.
func CommittedTxs(h Home, fn func(height int64, raw []byte) error) error {
	cs, err := openCometStores(h)
	if err != nil {
		return err
	}
	defer cs.Close()
	for height := max(1, cs.blocks.Base()); height <= cs.blocks.Height(); height++ {
		b, _ := cs.blocks.LoadBlock(height)
		if b == nil {
			return fmt.Errorf("blockstore.db: block %d is missing", height)
		}
		for _, raw := range b.Txs {
			if err := fn(height, raw); err != nil {
				return err
			}
		}
	}
	return nil
}
