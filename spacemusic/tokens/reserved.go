package tokens

// Reserved identities: the ones the project's own participants join under.
// LiveKit disconnects the earlier holder of an identity when a second one
// joins, so a token for one of these, handed to anyone, would drop the show's
// recorder or an operator's monitor. Services never mint them for callers
// (the dashboard answers 403 reserved_identity, shows refuse a performer named
// so); the recorder and the monitor take their names from here, so the names
// and the check cannot drift apart.

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	hexenc "encoding/hex"
	"fmt"
	"strings"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/internal/server"
)

// ErrReservedIdentity refines ErrInvalidArgument: a service was asked to hand
// out a reserved identity.
var ErrReservedIdentity = fmt.Errorf("%w: reserved identity", errs.ErrInvalidArgument)

// CheckUnreserved refuses a reserved identity with ErrReservedIdentity; op
// names the caller's operation.
func CheckUnreserved(op, identity string) error {
	if !Reserved(identity) {
		return nil
	}
	return &errs.Error{Op: op, Kind: ErrReservedIdentity, Message: fmt.Sprintf("identity %q is reserved for streamkit's own participants (the recorder, monitors)", identity)}
}

// ReservedPrefix starts every identity the project reserves (case aside).
const ReservedPrefix = "streamkit-"

// RecorderIdentity is the show recorder's identity (spacemusic/capture).
const RecorderIdentity = ReservedPrefix + "recorder"

// monitorPrefix starts an operator's monitor identity: "monitor-" and 12
// lowercase hex digits, random per monitor (the page and its tests know the
// prefix; the hex part keeps a performer called "monitor-mia" free).
const monitorPrefix = "monitor-"

const monitorHex = 12

// MonitorIdentity is a fresh identity for an operator's monitor.
func MonitorIdentity() string {
	var id [monitorHex / 2]byte
	_, _ = rand.Read(id[:])
	return monitorPrefix + hexenc.EncodeToString(id[:])
}

// Reserved reports whether identity is the project's own: the reserved
// prefix, or a monitor's name as MonitorIdentity makes them.
func Reserved(identity string) bool {
	if len(identity) >= len(ReservedPrefix) && strings.EqualFold(identity[:len(ReservedPrefix)], ReservedPrefix) {
		return true
	}
	if len(identity) != len(monitorPrefix)+monitorHex || !strings.HasPrefix(identity, monitorPrefix) {
		return false
	}
	for _, c := range identity[len(monitorPrefix):] {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// OwnAttribute is the participant attribute that tells the project's own
// participants from impostors under a reserved identity (WithOwnProof, Own).
// A hidden participant's attributes reach only the server and its webhooks;
// services strip it before showing a participant to anyone.
const OwnAttribute = "streamkit.own"

// WithOwnProof marks a token as the project's own participant in room: an
// attribute holding a MAC of room and identity under the API secret, with a
// random nonce. Someone who joins under a reserved identity with a token made
// elsewhere (another tool holding the same key) lacks it. (Whoever holds the
// API secret and this scheme can forge it: it tells a careless or foreign
// minter apart, not a thief of the secret.)
func (i *Issuer) WithOwnProof(room, identity string) Option {
	var nonce [12]byte
	_, _ = rand.Read(nonce[:])
	n := base64.RawURLEncoding.EncodeToString(nonce[:])
	proof := n + "." + i.ownMAC(room, identity, n)
	return func(o *Options) {
		a := make(map[string]string, len(o.Attributes)+1)
		for k, v := range o.Attributes {
			a[k] = v
		}
		a[OwnAttribute] = proof
		o.Attributes = a
	}
}

// CheckOwnProof is nil when the livekit-server the issuer is for carries
// WithOwnProof's attribute to the room and its webhooks, and ErrUnsupported
// (naming the release) when it does not: v1.6.1 has no participant
// attributes, so a token with the proof is refused there, and Own can never
// tell the project's participants from impostors.
func (i *Issuer) CheckOwnProof() error {
	return server.Check("tokens.CheckOwnProof", i.server, server.Attributes)
}

// Own reports whether a participant with these attributes, in room under
// identity, joined with a token WithOwnProof made under this issuer's secret.
func (i *Issuer) Own(room, identity string, attributes map[string]string) bool {
	n, mac, ok := strings.Cut(attributes[OwnAttribute], ".")
	if !ok || n == "" {
		return false
	}
	return hmac.Equal([]byte(mac), []byte(i.ownMAC(room, identity, n)))
}

func (i *Issuer) ownMAC(room, identity, nonce string) string {
	m := hmac.New(sha256.New, i.secret)
	m.Write([]byte("streamkit-own\x00" + room + "\x00" + identity + "\x00" + nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
