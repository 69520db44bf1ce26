package ledger

import (
	"crypto/ed25519"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/tx"
)

// blockTx is one transaction of a block, decoded once for the block.
type blockTx struct {
	s   *tx.Signed
	err error // tx.Decode's
}

// decodeBlock decodes the block's transactions.
func decodeBlock(raws [][]byte) []blockTx {
	txs := make([]blockTx, len(raws))
	for i, raw := range raws {
		txs[i].s, txs[i].err = tx.Decode(raw)
	}
	return txs
}

// minBatch is the fewest signatures worth a batch: below it, checking each
// costs about the same.
const minBatch = 4

// preverify checks in one batch the signatures of the block's transactions
// that this node did not check in CheckTx (all of them on a node that syncs
// or replays blocks; those a proposer took from another node's mempool),
// each under its signer's key in r, and remembers those that verify, as
// CheckTx does. It decides nothing: deliver checks each signature under the
// key the block sees when it comes to the transaction, and a remembered
// verdict counts only under that same key. An unknown or revoked signer, a
// key rotated earlier in the block and a bad signature are all judged
// there, one transaction at a time.
func (a *App) preverify(r reader, txs []blockTx) {
	var (
		ss   []*tx.Signed
		pubs []ed25519.PublicKey
	)
	for _, t := range txs {
		if t.err != nil || t.s.ChainID != a.chainID || a.seen(t.s.Hash) {
			continue
		}
		p, err := getPrincipal(r, t.s.Signer)
		if err != nil || p.Status == carechain.StatusRevoked {
			continue
		}
		ss, pubs = append(ss, t.s), append(pubs, p.PublicKey)
	}
	if len(ss) < minBatch {
		return
	}
	for i, ok := range a.verifier.VerifyBatch(ss, pubs) {
		if ok {
			a.remember(ss[i], pubs[i])
		}
	}
}

// seen reports whether a verdict on the signature of the transaction with
// this hash is remembered.
func (a *App) seen(hash [32]byte) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.verified[hash]
	return ok
}

// remember keeps that s's signature verifies under pub, for verifyOnce.
func (a *App) remember(s *tx.Signed, pub ed25519.PublicKey) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.verified) >= maxVerifiedCache {
		clear(a.verified)
	}
	a.verified[s.Hash] = pub
}
