package rehearsal

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/selfsign"
	"github.com/pion/ice/v4"
	"github.com/pion/stun/v3"
	"github.com/pion/transport/v3/packetio"
)

// A listener's media path is its own, not a pion PeerConnection's. Pion
// hands each packet through four goroutines (the ICE candidate's reader, the
// mux, the SRTP session, the track's reader) and decrypts it; a rehearsal
// needs neither. SRTP leaves the RTP header in the clear (RFC 3711, 3.1) and
// the header is all the counter reads. So a link is one UDP socket and one
// goroutine that reads it: it answers the SFU's ICE checks (and checks back),
// shakes hands over DTLS (the SFU sends media only after), and counts RTP
// headers as they arrive. The payload is never decrypted, so a listener
// cannot tell a forged packet from the SFU's: it trusts the path it
// signalled over, as a load generator may.

// Intervals of a link's own ICE checks: until a path is chosen, then as
// consent to keep receiving (RFC 7675 asks for one every 5 s at most).
const (
	checkEvery   = 250 * time.Millisecond
	consentEvery = 2500 * time.Millisecond
)

// kit is what every link of a rehearsal shares: one DTLS certificate and its
// fingerprint, as the SDP answer states it.
type kit struct {
	cert        tls.Certificate
	fingerprint string
	hosts       []net.IP // the addresses a link offers as host candidates
}

func newKit() (*kit, error) {
	cert, err := selfsign.GenerateSelfSigned()
	if err != nil {
		return nil, err
	}
	hosts, err := hostAddrs()
	if err != nil {
		return nil, err
	}
	return &kit{cert: cert, fingerprint: fingerprint(cert.Certificate[0]), hosts: hosts}, nil
}

// hostAddrs are the machine's IPv4 addresses on interfaces that are up,
// loopback's last. The link's socket listens on all of them, and the kernel
// answers from the address a route picks: the SFU's checks succeed on the
// pair whose address that is (RFC 8445 drops an answer from elsewhere), so
// each address is a candidate, loopback's too for an SFU on this machine.
func hostAddrs() ([]net.IP, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out, loop []net.IP
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
				if n.IP.IsLoopback() {
					loop = append(loop, n.IP.To4())
				} else {
					out = append(out, n.IP.To4())
				}
			}
		}
	}
	if out = append(out, loop...); len(out) == 0 {
		return nil, errors.New("no IPv4 address to listen on")
	}
	return out, nil
}

// fingerprint is der's SHA-256 in SDP's form: upper-case hex pairs joined by colons.
func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

// link is one listener's socket, its ICE state and, once connected, its
// DTLS session.
type link struct {
	kit        *kit
	conn       *net.UDPConn
	ufrag, pwd string
	tiebreaker uint64
	packet     func(hdr []byte) // told each RTP packet's bytes (header first)
	records    *packetio.Buffer // DTLS records for the handshake
	done       chan struct{}    // closed when the reader ends
	candidates []string         // the link's own, for the answer's trickle

	mu      sync.Mutex
	remote  *offer         // the SFU's credentials; nil before its offer
	cands   []*net.UDPAddr // the SFU's candidates
	peer    *net.UDPAddr   // the path chosen; nil before
	timer   *time.Timer
	dtls    *dtls.Conn
	checks  int
	closing bool
}

// newLink opens the listener's socket, with a host candidate for each of the
// machine's addresses.
func newLink(k *kit, packet func([]byte)) (*link, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		return nil, err
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	l := &link{kit: k, conn: conn, ufrag: token(8), pwd: token(24), tiebreaker: binary.BigEndian.Uint64(b[:]),
		packet: packet, records: packetio.NewBuffer(), done: make(chan struct{})}
	l.records.SetLimitSize(64 << 10) // the handshake's flights; past that a record is dropped, never the reader
	go l.read()
	port := conn.LocalAddr().(*net.UDPAddr).Port
	for i, ip := range k.hosts {
		// Host candidates' priority (RFC 8445, 5.1.2.1): type preference 126,
		// local preference by order, component 1.
		l.candidates = append(l.candidates, fmt.Sprintf("candidate:%d 1 udp %d %s %d typ host generation 0", i+1, 126<<24|(65535-i)<<8|255, ip, port))
	}
	return l, nil
}

// token is n random characters of ICE's alphabet.
func token(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// connect takes the SFU's credentials and candidates from its first offer
// and starts checking; later offers change neither.
func (l *link) connect(o offer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.remote != nil || l.closing {
		return
	}
	l.remote = &o
	for _, c := range o.candidates {
		l.addLocked(c)
	}
	l.timer = time.AfterFunc(0, l.check)
}

// addCandidate takes one of the SFU's trickled candidates: UDP over IPv4
// only, as the link listens.
func (l *link) addCandidate(raw string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addLocked(raw)
}

func (l *link) addLocked(raw string) {
	c, err := ice.UnmarshalCandidate(raw)
	if err != nil || c.NetworkType() != ice.NetworkTypeUDP4 || len(l.cands) >= 16 {
		return
	}
	ip := net.ParseIP(c.Address())
	if ip == nil {
		return
	}
	l.cands = append(l.cands, &net.UDPAddr{IP: ip, Port: c.Port()})
}

// check sends a binding request to each of the SFU's candidates until a path
// is chosen (for JoinTimeout at most), then to the path, as consent.
func (l *link) check() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing || l.remote == nil {
		return
	}
	l.checks++
	to, every := l.cands, checkEvery
	if l.peer != nil {
		to, every = []*net.UDPAddr{l.peer}, consentEvery
	} else if time.Duration(l.checks)*checkEvery > JoinTimeout {
		return // deaf: the rehearsal reports it
	}
	setters := []stun.Setter{stun.TransactionID, stun.BindingRequest,
		stun.NewUsername(l.remote.ufrag + ":" + l.ufrag), ice.PriorityAttr(110<<24 | 65535<<8 | 255)}
	if l.remote.lite {
		// Against an ICE-lite SFU the listener controls, and nominates the
		// first path that answers (RFC 8445, 8.1.1: aggressive).
		setters = append(setters, ice.AttrControlling(l.tiebreaker), ice.UseCandidate())
	} else {
		setters = append(setters, ice.AttrControlled(l.tiebreaker))
	}
	setters = append(setters, stun.NewShortTermIntegrity(l.remote.pwd), stun.Fingerprint)
	if m, err := stun.Build(setters...); err == nil {
		for _, a := range to {
			_, _ = l.conn.WriteToUDP(m.Raw, a)
		}
	}
	l.timer.Reset(every)
}

// read demultiplexes the socket by first byte (RFC 7983): STUN to the ICE
// answerer, DTLS records to the handshake, RTP to the counter; RTCP is
// dropped (a listener sends no reports).
func (l *link) read() {
	defer close(l.done)
	defer l.records.Close()
	buf := make([]byte, 1500)
	for {
		n, from, err := l.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		switch b := buf[0]; {
		case b >= 128 && b <= 191:
			// RTCP's packet types 192–223 sit where RTP's marker bit and
			// payload type are (RFC 5761, 4).
			if pt := buf[1] & 0x7f; n >= 12 && (pt < 64 || pt > 95) {
				l.packet(buf[:n])
			}
		case b >= 20 && b <= 63:
			_, _ = l.records.Write(buf[:n]) // full: the record is dropped, and DTLS retransmits
		case b < 4:
			l.stun(buf[:n], from)
		}
	}
}

// stun answers the SFU's binding requests and takes its answers to ours.
// The path is the nominated one: the SFU's by USE-CANDIDATE, or, against an
// ICE-lite SFU, the listener's own, the first that answers. The handshake
// starts then, not before: the SFU drops DTLS until its ICE has nominated
// (a lost first flight costs a second).
func (l *link) stun(raw []byte, from *net.UDPAddr) {
	m := &stun.Message{Raw: append([]byte(nil), raw...)}
	if m.Decode() != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.remote == nil || l.closing {
		return
	}
	switch m.Type {
	case stun.BindingRequest:
		var user stun.Username
		if user.GetFrom(m) != nil || !strings.HasPrefix(user.String(), l.ufrag+":") || stun.NewShortTermIntegrity(l.pwd).Check(m) != nil {
			return
		}
		if res, err := stun.Build(stun.NewTransactionIDSetter(m.TransactionID), stun.BindingSuccess,
			&stun.XORMappedAddress{IP: from.IP, Port: from.Port}, stun.NewShortTermIntegrity(l.pwd), stun.Fingerprint); err == nil {
			_, _ = l.conn.WriteToUDP(res.Raw, from)
		}
		if m.Contains(stun.AttrUseCandidate) && !l.remote.lite {
			l.chooseLocked(from)
		}
	case stun.BindingSuccess:
		if l.remote.lite && l.peer == nil && stun.NewShortTermIntegrity(l.remote.pwd).Check(m) == nil {
			l.chooseLocked(from)
		}
	}
}

// chooseLocked makes from the path, and starts the handshake on the first.
func (l *link) chooseLocked(from *net.UDPAddr) {
	first := l.peer == nil
	l.peer = from
	if first {
		go l.handshake(from, l.remote.fingerprint)
	}
}

// handshake is the DTLS client's: the SFU's certificate must be the one its
// offer named.
func (l *link) handshake(peer *net.UDPAddr, want string) {
	ctx, cancel := context.WithTimeout(context.Background(), JoinTimeout)
	defer cancel()
	d, err := dtls.Client(&dtlsPath{l}, peer, &dtls.Config{
		Certificates:           []tls.Certificate{l.kit.cert},
		SRTPProtectionProfiles: []dtls.SRTPProtectionProfile{dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80},
		ExtendedMasterSecret:   dtls.RequireExtendedMasterSecret,
		FlightInterval:         200 * time.Millisecond, // a lost flight is retried within a join's first second
		InsecureSkipVerify:     true,                   // self-signed, checked against the offer's fingerprint
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !strings.EqualFold(fingerprint(raw[0]), want) {
				return errors.New("the SFU's certificate is not the one its offer named")
			}
			return nil
		},
	})
	if err != nil {
		return
	}
	if err := d.HandshakeContext(ctx); err != nil {
		_ = d.Close()
		return
	}
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		_ = d.Close()
		return
	}
	l.dtls = d
	l.mu.Unlock()
	// The SFU may open data channels over DTLS; a listener reads none, so
	// what arrives is drained.
	buf := make([]byte, 1500)
	for {
		if _, err := d.Read(buf); err != nil {
			return
		}
	}
}

// close ends the DTLS session and the socket, which ends the reader.
func (l *link) close() {
	l.mu.Lock()
	l.closing = true
	d := l.dtls
	if l.timer != nil {
		l.timer.Stop()
	}
	l.mu.Unlock()
	if d != nil {
		_ = d.Close()
	}
	_ = l.conn.Close()
	<-l.done
}

// dtlsPath is the handshake's view of the socket: it reads the DTLS records
// the link's reader set aside, and writes to the chosen path.
type dtlsPath struct{ l *link }

func (p *dtlsPath) ReadFrom(b []byte) (int, net.Addr, error) {
	n, err := p.l.records.Read(b)
	return n, p.peer(), err
}

func (p *dtlsPath) WriteTo(b []byte, _ net.Addr) (int, error) {
	return p.l.conn.WriteToUDP(b, p.peer())
}

func (p *dtlsPath) peer() *net.UDPAddr {
	p.l.mu.Lock()
	defer p.l.mu.Unlock()
	return p.l.peer
}

func (p *dtlsPath) Close() error                       { return p.l.records.Close() }
func (p *dtlsPath) LocalAddr() net.Addr                { return p.l.conn.LocalAddr() }
func (p *dtlsPath) SetDeadline(t time.Time) error      { return p.l.records.SetReadDeadline(t) }
func (p *dtlsPath) SetReadDeadline(t time.Time) error  { return p.l.records.SetReadDeadline(t) }
func (p *dtlsPath) SetWriteDeadline(t time.Time) error { return nil }
