package stack

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"
	"testing"
)

// The TURN certificate a stack makes is one a client that trusts the stack's
// CA accepts for the TURN domain and for 127.0.0.1, and for no other name;
// its key is readable by its owner only, and everything goes with Close.
func TestTURNCertificateIsForTheTURNDomain(t *testing.T) {
	s := New()
	turn, err := s.TURN(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(turn.CertFile, turn.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(turn.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for name, ok := range map[string]bool{TURNDomain: true, "127.0.0.1": true, "livekit-turn.example.org": false, "localhost": false} {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name})
		if (err == nil) != ok {
			t.Errorf("verify for %s: %v, want ok=%t", name, err, ok)
		}
	}
	if st, err := os.Stat(turn.KeyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode: %v %v", st.Mode(), err)
	}
	if y := TURNYAML("", turn); !strings.Contains(y, "cert_file: "+turn.CertFile) || !strings.Contains(y, "bind_addresses: [127.0.0.1]") {
		t.Errorf("TURNYAML: %s", y)
	}
	if y := TURNYAML("v1.6.1", turn); strings.Contains(y, "bind_addresses") || !strings.Contains(y, "domain: "+TURNDomain) {
		t.Errorf("TURNYAML for v1.6.1, which refuses bind_addresses: %s", y)
	}
	s.Close()
	if _, err := os.Stat(turn.KeyFile); !os.IsNotExist(err) {
		t.Errorf("the key outlived Close: %v", err)
	}
}
