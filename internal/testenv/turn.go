package testenv

import (
	"os/exec"
	"strconv"

	"github.com/spacemusic/streamkit/internal/stack"
)

// TURN is a node's embedded TURN server (see stack.TURN).
type TURN = stack.TURN

// WithTURN runs LiveKit's embedded TURN server on free ports, with a
// certificate for stack.TURNDomain signed by a CA made for the test (process
// backend, inside the private network namespace only). LiveKit hands clients
// turns:<domain>:443 whatever its tls_port (see stack.TURN), so 443 of the
// namespace's loopback is carried to the TLS port by a NAT rule, as a port
// forward would in production; one such node per namespace at a time. The
// node also takes ICE over TCP (Env.TCPPort), as production's 7881 does: with
// TURN, every way a listener reaches the SFU.
func WithTURN() Option { return func(o *options) { o.turn = true } }

// turnFor makes the TURN server of a node and its port 443.
func turnFor(t TB, s *stack.Stack) *TURN {
	t.Helper()
	RequireNetNS(t)
	turn, err := s.TURN(0, 0)
	must(t, err)
	Firewall(t, "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", "127.0.0.1", "--dport", "443",
		"-j", "REDIRECT", "--to-ports", strconv.Itoa(turn.TLSPort))
	return turn
}

// Firewall adds an iptables rule (the arguments after iptables, starting
// with -A) inside the private network namespace, and deletes it when the test
// ends. Tests use it to block a path (drop UDP to the SFU) or forward a port.
func Firewall(t TB, rule ...string) {
	t.Helper()
	RequireNetNS(t)
	bin := Tool(t, "iptables", "apt-get install iptables")
	run := func(args []string) {
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("testenv: iptables %v: %v\n%s", args, err, out)
		}
	}
	run(rule)
	del := append([]string(nil), rule...)
	for i, a := range del {
		if a == "-A" {
			del[i] = "-D"
		}
	}
	t.Cleanup(func() { run(del) })
}
