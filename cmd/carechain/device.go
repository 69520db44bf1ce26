package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/records"
)

// A device is the records service run by the CLI on this machine for the
// --as principal: its signing key, and a patient's encryption key, come
// from the local keystore and never leave it; the node's state is read over
// its API (nodeapi.RemoteChain, GET /v1/state, which shows a principal only
// what it acts on) and transactions are submitted through POST /v1/txs. A
// patient who keeps their keystore on their own device (self-held) uses
// the node this way; so can anyone with their keystore at hand.
type device struct {
	svc    *records.Service
	me     records.Signer
	chain  *nodeapi.RemoteChain
	client *nodeapi.Client
	keys   *records.Keyring
}

// deviceTimeout bounds a command run on the device: reads, a submission
// and its commit.
const deviceTimeout = 60 * time.Second

// onDevice unlocks the signer's keys and runs fn with a device for them.
func (c *cli) onDevice(cmd *cobra.Command, s *signerFlags, fn func(context.Context, *device) error) error {
	ks, err := s.open()
	if err != nil {
		return err
	}
	pass, err := c.passphrase("Passphrase for "+s.keyName(), false)
	if err != nil {
		return err
	}
	key, err := ks.Unlock(s.keyName(), pass)
	if err != nil {
		return fmt.Errorf("unlock %s: %w", s.keyName(), err)
	}
	keys := &records.Keyring{}
	if strings.HasPrefix(s.as, carechain.PatientPrefix) {
		// A patient (or a delegate, also a person) reads with their own
		// encryption key, made by `keys new --kind patient` under the
		// same passphrase, and the keys it replaced (keys rotate-encryption).
		name := records.EncryptionKeyName(s.as)
		_, err := ks.Entry(name)
		if errors.Is(err, keystore.ErrNotFound) {
			return fmt.Errorf("no encryption key %s in this keystore: a patient's keys are made with `carechain keys new %s --kind patient`", name, s.keyName())
		}
		if n, err := keys.Unlock(ks, s.as, pass); err != nil || n == 0 {
			return fmt.Errorf("unlock %s: %w", name, cmp.Or(err, keystore.ErrWrongPassphrase))
		}
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), deviceTimeout)
	defer cancel()
	unsigned, err := c.nodeClient(s.nodeAddr, s.home)
	if err != nil {
		return err
	}
	cl := unsigned.As(s.as, key)
	chain, err := nodeapi.NewRemoteChain(ctx, cl)
	if err != nil {
		return err
	}
	svc, err := records.New(chain, keys, records.Options{Node: "cli"})
	if err != nil {
		return err
	}
	return fn(ctx, &device{svc: svc, me: records.Signer{ID: s.as, Key: key}, chain: chain, client: cl, keys: keys})
}
