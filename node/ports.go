package node

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// FreeLoopbackAddr returns 127.0.0.1:<port> with a port that was free
// (see freePort): a p2p or HTTP address for a node on this machine.
func FreeLoopbackAddr() (string, error) {
	port, err := freePort()
	if err != nil {
		return "", fmt.Errorf("free loopback port: %w", err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// lowestPort is the bottom of the range freePort draws from: above the
// registered ports services commonly use.
const lowestPort = 20000

// freePort finds a free loopback port for a node to bind later. It draws
// below the kernel's ephemeral range: a port the OS handed out for
// 127.0.0.1:0 and that was closed again is soon taken by some outgoing
// connection's local end (CI saw a testnet's p2p port taken that way), while
// ports below the range are never given to outgoing connections. Another
// process could still bind the port before the node does; drawing at
// random from some ten thousand ports makes that rare. When no drawn port
// is free, the OS chooses.
func freePort() (int, error) {
	if top := ephemeralLow() - 1; top > lowestPort {
		for range 32 {
			port := lowestPort + rand.IntN(top-lowestPort+1)
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				continue
			}
			l.Close()
			return port, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ephemeralLow is the lowest port the kernel gives outgoing connections:
// Linux's ip_local_port_range, else the IANA range's start.
func ephemeralLow() int {
	const iana = 49152
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return iana
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return iana
	}
	low, err := strconv.Atoi(f[0])
	if err != nil {
		return iana
	}
	return low
}
