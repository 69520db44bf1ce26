package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"

	"github.com/carechain/carechain"
)

// Duration is a time.Duration written as a string ("250ms") in config files.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Config is a node's configuration, kept in <home>/config/node.json. It holds
// only what carechain operators set; the rest of CometBFT's configuration is
// derived from it in code, so every node of a consortium runs the same tuning.
type Config struct {
	ChainID  string   `json:"chain_id"`
	Moniker  string   `json:"moniker"`
	HTTPAddr string   `json:"http_addr"`        // API, portal, /metrics, /healthz
	P2PAddr  string   `json:"p2p_addr"`         // CometBFT p2p listener, host:port
	Peers    []string `json:"persistent_peers"` // id@host:port
	// TimeoutCommit is how long a validator waits after a commit before the next height.
	TimeoutCommit Duration `json:"timeout_commit"`
	// EmptyBlockInterval is how often a block is made when no transaction arrives.
	EmptyBlockInterval Duration `json:"empty_block_interval"`
	MempoolSize        int      `json:"mempool_size"`
	// TLSCert and TLSKey (PEM; relative paths are relative to the home), if
	// set, make the HTTP listener TLS only; init --tls makes them.
	TLSCert string `json:"tls_cert,omitempty"`
	TLSKey  string `json:"tls_key,omitempty"`
	// TLSClientCA (PEM), if set, makes the HTTP listener require client
	// certificates signed by one of its CAs.
	TLSClientCA string `json:"tls_client_ca,omitempty"`
}

// DefaultConfig returns the configuration of a new home.
func DefaultConfig(chainID, moniker string) Config {
	return Config{
		ChainID:            chainID,
		Moniker:            moniker,
		HTTPAddr:           "127.0.0.1:8080",
		P2PAddr:            "127.0.0.1:26656",
		TimeoutCommit:      Duration(100 * time.Millisecond),
		EmptyBlockInterval: Duration(30 * time.Second),
		MempoolSize:        20000,
	}
}

// Home is the directory of one node: configuration, keys and data.
type Home string

// Paths inside a home.
func (h Home) configDir() string   { return filepath.Join(string(h), "config") }
func (h Home) ConfigFile() string  { return filepath.Join(h.configDir(), "node.json") }
func (h Home) GenesisFile() string { return filepath.Join(h.configDir(), "genesis.json") }
func (h Home) NodeKeyFile() string { return filepath.Join(h.configDir(), "node_key.json") }
func (h Home) ValidatorKeyFile() string {
	return filepath.Join(h.configDir(), "priv_validator_key.json")
}
func (h Home) DataDir() string { return filepath.Join(string(h), "data") }
func (h Home) ValidatorStateFile() string {
	return filepath.Join(h.DataDir(), "priv_validator_state.json")
}
func (h Home) StateDir() string { return filepath.Join(h.DataDir(), "state") }

// KeysDir holds the custodial keystore of the node's users.
func (h Home) KeysDir() string { return filepath.Join(string(h), "keys") }

// Exists reports whether h holds an initialized node.
func (h Home) Exists() bool {
	_, err := os.Stat(h.ConfigFile())
	return err == nil
}

// LoadConfig reads the node configuration of h.
func (h Home) LoadConfig() (Config, error) {
	b, err := os.ReadFile(h.ConfigFile())
	if errors.Is(err, os.ErrNotExist) {
		return Config{}, fmt.Errorf("%s is not a carechain home (no config/node.json): run `carechain init` first", h)
	}
	if err != nil {
		return Config{}, err
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("%s: %w", h.ConfigFile(), err)
	}
	return c, nil
}

// SaveConfig writes c to h.
func (h Home) SaveConfig(c Config) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(h.configDir(), 0o700); err != nil {
		return err
	}
	return writeFileAtomic(h.ConfigFile(), append(b, '\n'), 0o600)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// peerQueryMaj23Sleep paces CometBFT's per-peer vote queries; Stop waits on it.
const peerQueryMaj23Sleep = 100 * time.Millisecond

// cometConfig derives CometBFT's configuration from ours.
func (h Home) cometConfig(c Config) *cmtcfg.Config {
	cfg := cmtcfg.DefaultConfig()
	cfg.SetRoot(string(h))
	cfg.Moniker = c.Moniker
	cfg.Genesis = h.GenesisFile()
	cfg.NodeKey = h.NodeKeyFile()
	cfg.PrivValidatorKey = h.ValidatorKeyFile()
	cfg.PrivValidatorState = h.ValidatorStateFile()
	cfg.DBPath = "data"
	cfg.DBBackend = "goleveldb" // CometBFT's own stores; carechain state is in Pebble (store)

	// No CometBFT RPC port: clients use carechain's HTTP API, which talks to
	// the node in-process. One listener per node.
	cfg.RPC.ListenAddress = ""
	cfg.GRPC.ListenAddress = ""
	cfg.Instrumentation.Prometheus = false

	// Only registered nodes peer: CometBFT asks the ledger about each peer
	// (ledger.App.Query).
	cfg.FilterPeers = true
	cfg.P2P.ListenAddress = "tcp://" + c.P2PAddr
	cfg.P2P.PersistentPeers = strings.Join(c.Peers, ",")
	cfg.P2P.AddrBookStrict = false // consortium peers may share a host
	cfg.P2P.AllowDuplicateIP = true
	cfg.P2P.FlushThrottleTimeout = 10 * time.Millisecond
	cfg.P2P.SendRate = 20 << 20
	cfg.P2P.RecvRate = 20 << 20

	// Our own indexes live in the app; CometBFT's kv indexer would halve throughput.
	cfg.TxIndex.Indexer = "null"

	cfg.Mempool.Size = c.MempoolSize
	cfg.Mempool.MaxTxsBytes = 256 << 20
	cfg.Mempool.MaxTxBytes = carechain.MaxTxBytes // the ledger's own limit: a larger tx is refused before gossip
	cfg.Mempool.CacheSize = 100000

	cfg.Consensus.TimeoutPropose = time.Second
	cfg.Consensus.TimeoutPrevote = 500 * time.Millisecond
	cfg.Consensus.TimeoutPrecommit = 500 * time.Millisecond
	cfg.Consensus.TimeoutCommit = time.Duration(c.TimeoutCommit)
	cfg.Consensus.CreateEmptyBlocks = true
	cfg.Consensus.CreateEmptyBlocksInterval = time.Duration(c.EmptyBlockInterval)
	cfg.Consensus.PeerGossipSleepDuration = 5 * time.Millisecond
	cfg.Consensus.PeerQueryMaj23SleepDuration = peerQueryMaj23Sleep
	return cfg
}
