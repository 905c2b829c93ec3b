package stack

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/mod/semver"
)

// TURNDomain is the TURN host name of a local stack. LiveKit requires a dotted
// name for TURN/TLS (service.IsValidDomain), and Chromium resolves every
// *.localhost name to loopback itself (RFC 6761), so no hosts entry is needed.
const TURNDomain = "turn.localhost"

// TURNRelayPorts are the ports TURN relays from (turn.relay_range_*): below
// Linux's ephemeral range (32768-60999), so a firewall can tell the relay's
// flows from any client socket's; LiveKit's default is 30000-40000.
const TURNRelayPorts = "30000:32767"

// TURN is LiveKit's embedded TURN server as a stack runs it (the seed's stack
// runs it on TLS 5349 and UDP 3478 for listeners behind NAT).
//
// LiveKit tells clients of it in the join response, but not as configured:
// v1.6.1 and v1.11.0 alike (pkg/service/roommanager.go,
// iceServersForParticipant) hand out turn:<node_ip>:<udp_port>?transport=udp
// and turns:<domain>:443?transport=tcp, whatever tls_port says: TURN/TLS is
// expected behind port 443 (a load balancer, or a port forward). Something
// must carry 443 to TLSPort, or clients never reach TURN over TLS.
type TURN struct {
	Domain  string // the name on the certificate, handed to clients for TURN/TLS
	UDPPort int    // TURN over UDP (also answers STUN binding requests)
	TLSPort int    // TURN over TLS, where livekit-server listens
	// CertFile and KeyFile are the TLS certificate (for Domain and 127.0.0.1)
	// and its key; CAFile is the certificate of the CA that signed it, made
	// with them at start, for clients to trust. Nothing of it is kept.
	CertFile, KeyFile, CAFile string
}

// TLSAddr is where the TURN/TLS listener is: 127.0.0.1:TLSPort.
func (t *TURN) TLSAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(t.TLSPort)) }

// UDPAddr is where TURN/UDP is: 127.0.0.1:UDPPort.
func (t *TURN) UDPAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(t.UDPPort)) }

// URIs are the server's listeners as RFC 7065 URIs, comma-separated (the
// dashboard's DASHBOARD_TURN): what listens, not the 443 LiveKit hands out.
func (t *TURN) URIs() string {
	return "turn:" + t.UDPAddr() + "?transport=udp,turns:" + t.TLSAddr() + "?transport=tcp"
}

// TURN makes the certificate of a TURN server on the given ports (0: a free
// one) in a directory Close removes.
func (s *Stack) TURN(udpPort, tlsPort int) (*TURN, error) {
	var err error
	if udpPort == 0 {
		if udpPort, err = FreeUDPPort(); err != nil {
			return nil, err
		}
	}
	if tlsPort == 0 {
		if tlsPort, err = FreePort(); err != nil {
			return nil, err
		}
	}
	dir, err := s.TempDir()
	if err != nil {
		return nil, err
	}
	t := &TURN{Domain: TURNDomain, UDPPort: udpPort, TLSPort: tlsPort, CertFile: filepath.Join(dir, "turn.crt"),
		KeyFile: filepath.Join(dir, "turn.key"), CAFile: filepath.Join(dir, "turn-ca.crt")}
	return t, writeTURNCert(t)
}

// TURNYAML is the part of a livekit-server config that runs the embedded TURN
// server t on loopback; empty for nil. version is the server's release (empty:
// the pin): v1.6.1 spells these keys the same, but turn.bind_addresses came in
// v1.10.1 (livekit#4315), and older releases refuse unknown keys at start and
// bind TURN to 0.0.0.0, so the key is left out for them.
func TURNYAML(version string, t *TURN) string {
	if t == nil {
		return ""
	}
	bind := "  bind_addresses: [127.0.0.1]\n"
	if version != "" && semver.Compare(version, "v1.10.1") < 0 {
		bind = ""
	}
	return fmt.Sprintf(`turn:
  enabled: true
  domain: %s
  udp_port: %d
  tls_port: %d
  cert_file: %s
  key_file: %s
  relay_range_start: 30000
  relay_range_end: 32767
`, t.Domain, t.UDPPort, t.TLSPort, t.CertFile, t.KeyFile) + bind
}

// writeTURNCert makes a CA and a leaf it signs for t.Domain and 127.0.0.1,
// valid for a week from an hour ago, and writes them (the key 0600).
func writeTURNCert(t *TURN) error {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("stack: turn ca key: %w", err)
	}
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "streamkit local TURN CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, MaxPathLenZero: true}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("stack: turn ca: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("stack: turn key: %w", err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: t.Domain},
		NotBefore: ca.NotBefore, NotAfter: ca.NotAfter, DNSNames: []string{t.Domain}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("stack: turn certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("stack: turn key: %w", err)
	}
	for _, f := range []struct {
		path, kind string
		der        []byte
		mode       os.FileMode
	}{{t.CAFile, "CERTIFICATE", caDER, 0o644}, {t.CertFile, "CERTIFICATE", leafDER, 0o644}, {t.KeyFile, "PRIVATE KEY", keyDER, 0o600}} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.kind, Bytes: f.der}), f.mode); err != nil {
			return fmt.Errorf("stack: write turn certificate: %w", err)
		}
	}
	return nil
}
