// Package tokens mints and verifies LiveKit access tokens for a live-music show:
// performers who play, listeners who only listen, moderators who run the room.
//
// Tokens are HS256 JWTs with the claims of github.com/livekit/protocol/auth (iss =
// API key, sub = identity, nbf, exp, name, metadata, attributes, video grant), so a
// LiveKit server accepts them, and tokens from any LiveKit SDK verify here. Minting
// is hand-tuned: a show hands out tokens to every listener at the door.
package tokens

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/internal/names"
	"github.com/spacemusic/streamkit/spacemusic/internal/server"
)

// Errors are *errs.Error (spacemusic.Error): bad input is ErrInvalidArgument, a
// token Verify refuses is ErrUnauthorized, refined by these two. Messages never
// contain the secret or the token.
var (
	ErrInvalidToken = fmt.Errorf("%w: invalid token", errs.ErrUnauthorized)
	ErrExpired      = fmt.Errorf("%w: token expired", errs.ErrUnauthorized)
)

// Lifetimes.
const (
	PerformerTTL       = 6 * time.Hour // a set and its sound check
	ListenerTTL        = time.Hour     // default for listeners
	MaxListenerTTL     = 24 * time.Hour
	MonitorTTL         = 10 * time.Minute // default for an operator's monitor: enough to connect
	MaxMonitorTTL      = time.Hour
	MaxTTL             = 7 * 24 * time.Hour
	DefaultTTL         = PerformerTTL
	ClockSkewTolerance = 30 * time.Second // livekit/livekit#2394: "token not valid yet"
	MinSecretLen       = 32               // LiveKit refuses shorter secrets
)

// Options describe one token.
type Options struct {
	Identity   string            // required for tokens that join a room
	Name       string            // shown to others
	Metadata   string            // free-form, e.g. JSON with the performer's instrument
	Attributes map[string]string // key/value attributes, visible to the room
	TTL        time.Duration     // DefaultTTL when zero; at most MaxTTL
	Grant      Grant
}

// Option adjusts a preset.
type Option func(*Options)

// WithName sets the display name.
func WithName(name string) Option { return func(o *Options) { o.Name = name } }

// WithMetadata sets the participant metadata.
func WithMetadata(md string) Option { return func(o *Options) { o.Metadata = md } }

// WithAttributes sets participant attributes.
func WithAttributes(a map[string]string) Option { return func(o *Options) { o.Attributes = a } }

// WithTTL sets the token lifetime. livekit-server's code (not a test here) sends
// connected clients fresh tokens, so the lifetime should only bound joining and
// reconnecting.
func WithTTL(d time.Duration) Option { return func(o *Options) { o.TTL = d } }

// WithHidden hides the participant from others (e.g. a monitoring bot).
func WithHidden() Option { return func(o *Options) { o.Grant.Hidden = true } }

// WithSources limits what the participant may publish (e.g. "microphone").
func WithSources(sources ...string) Option {
	return func(o *Options) { o.Grant.CanPublishSources = sources }
}

// Token is a minted JWT with what the caller needs to hand it out.
type Token struct {
	JWT       string    `json:"token"`
	Identity  string    `json:"identity,omitempty"`
	Room      string    `json:"room,omitempty"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// String omits the JWT: a token is a credential and must not reach logs.
func (t Token) String() string {
	return fmt.Sprintf("{Identity:%s Room:%s ExpiresAt:%s JWT:[redacted]}", t.Identity, t.Room, t.ExpiresAt.Format(time.RFC3339))
}

// LogValue omits the JWT from slog output.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.String("identity", t.Identity), slog.String("room", t.Room), slog.Time("expiresAt", t.ExpiresAt))
}

// Issuer mints and verifies tokens for one API key.
type Issuer struct {
	key    string
	secret []byte
	macs   sync.Pool // keyed HMAC-SHA256 states; keying costs as much as signing
	now    func() time.Time
	server string // livekit-server release the tokens are for; empty: the pinned one
}

// NewIssuer checks the key pair; the secret must be at least 32 characters.
func NewIssuer(apiKey, apiSecret string) (*Issuer, error) {
	switch {
	case apiKey == "":
		return nil, errs.Invalid("tokens.NewIssuer", "API key is empty")
	case len(apiSecret) < MinSecretLen:
		return nil, errs.Invalid("tokens.NewIssuer", "API secret is %d characters; LiveKit requires at least %d", len(apiSecret), MinSecretLen)
	}
	i := &Issuer{key: apiKey, secret: []byte(apiSecret), now: time.Now}
	i.macs.New = func() any { return hmac.New(sha256.New, i.secret) }
	return i, nil
}

// NewIssuerFor is NewIssuer for a livekit-server at version (e.g. "v1.6.1"
// on a deployment not yet upgraded): its tokens refuse with ErrUnsupported
// what that release would ignore (participant attributes before v1.7.0).
// Empty: the pinned release.
func NewIssuerFor(apiKey, apiSecret, version string) (*Issuer, error) {
	if err := server.Valid(version); err != nil {
		return nil, errs.Invalid("tokens.NewIssuer", "%v", err)
	}
	i, err := NewIssuer(apiKey, apiSecret)
	if err != nil {
		return nil, err
	}
	i.server = version
	return i, nil
}

// APIKey is the key tokens are issued under (their "iss").
func (i *Issuer) APIKey() string { return i.key }

// Performer mints a performer's token: join the room, publish, subscribe and send
// data; valid for 6 hours.
func (i *Issuer) Performer(room, identity string, opts ...Option) (Token, error) {
	return i.preset(room, identity, PerformerTTL, MaxTTL, Grant{
		RoomJoin: true, Room: room, CanPublish: yes, CanSubscribe: yes, CanPublishData: yes,
	}, opts)
}

// Listener mints an audience token: subscribe only, with publishing and data
// explicitly refused. The lifetime defaults to an hour and may not exceed a day.
func (i *Issuer) Listener(room, identity string, opts ...Option) (Token, error) {
	return i.preset(room, identity, ListenerTTL, MaxListenerTTL, Grant{
		RoomJoin: true, Room: room, CanPublish: no, CanSubscribe: yes, CanPublishData: no,
	}, opts)
}

// Monitor mints an operator's listening token: subscribe only, like a
// listener, and hidden, so LiveKit neither counts the monitor nor shows it to
// the room. It is short-lived (MonitorTTL, at most MaxMonitorTTL) because a web
// page holds it. A connected monitor outlives it because livekit-server
// (v1.11.0, pkg/service/roommanager.go) sends a connected client a fresh token
// on joining and every 5 minutes: LiveKit's code, which no test here holds.
func (i *Issuer) Monitor(room, identity string, opts ...Option) (Token, error) {
	return i.preset(room, identity, MonitorTTL, MaxMonitorTTL, Grant{
		RoomJoin: true, Room: room, CanPublish: no, CanSubscribe: yes, CanPublishData: no, Hidden: true,
	}, opts)
}

// Moderator mints a token for running one room: everything a performer may do, plus
// admin rights on that room (mute, kick, promote from a client).
func (i *Issuer) Moderator(room, identity string, opts ...Option) (Token, error) {
	return i.preset(room, identity, PerformerTTL, MaxTTL, Grant{
		RoomJoin: true, RoomAdmin: true, Room: room, CanPublish: yes, CanSubscribe: yes, CanPublishData: yes,
	}, opts)
}

func (i *Issuer) preset(room, identity string, ttl, maxTTL time.Duration, g Grant, opts []Option) (Token, error) {
	o := Options{Identity: identity, TTL: ttl, Grant: g}
	for _, opt := range opts {
		opt(&o)
	}
	if o.TTL > maxTTL {
		return Token{}, errs.Invalid(opIssue, "lifetime %s is above the limit of %s for this role", o.TTL, maxTTL)
	}
	if err := names.Check("room name", room); err != nil {
		return Token{}, errs.Invalid(opIssue, "%v", err)
	}
	return i.Issue(o)
}

// Issue mints a token with a custom grant.
func (i *Issuer) Issue(o Options) (Token, error) {
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	switch {
	case o.TTL < 0:
		return Token{}, errs.Invalid(opIssue, "lifetime %s is negative", o.TTL)
	case o.TTL > MaxTTL:
		return Token{}, errs.Invalid(opIssue, "lifetime %s is above the limit of %s", o.TTL, MaxTTL)
	}
	if o.Grant.RoomJoin || o.Identity != "" {
		if err := names.Check("identity", o.Identity); err != nil {
			return Token{}, errs.Invalid(opIssue, "%v", err)
		}
	}
	if len(o.Attributes) > 0 {
		if err := server.Check(opIssue, i.server, server.Attributes); err != nil {
			return Token{}, err
		}
	}
	now := i.now()
	exp := now.Add(o.TTL)
	return Token{JWT: i.sign(&o, now.Unix(), exp.Unix()), Identity: o.Identity, Room: o.Grant.Room, ExpiresAt: exp.Truncate(time.Second)}, nil
}

// header is the constant first segment: base64url({"alg":"HS256","typ":"JWT"}).
const header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"

var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// sign builds header.payload.signature in one buffer: the claims are appended as
// JSON by hand, encoded in place, and signed with a pooled, pre-keyed HMAC.
func (i *Issuer) sign(o *Options, nbf, exp int64) string {
	bp := bufs.Get().(*[]byte)
	claims := appendClaims((*bp)[:0], i.key, o, nbf, exp)

	enc := base64.RawURLEncoding
	out := make([]byte, 0, len(header)+1+enc.EncodedLen(len(claims))+1+enc.EncodedLen(sha256.Size))
	out = append(out, header...)
	out = append(out, '.')
	out = enc.AppendEncode(out, claims)

	mac := i.macs.Get().(hash.Hash)
	mac.Reset()
	mac.Write(out)
	var sum [sha256.Size]byte
	out = append(out, '.')
	out = enc.AppendEncode(out, mac.Sum(sum[:0]))
	i.macs.Put(mac)

	*bp = claims
	bufs.Put(bp)
	// out is this call's own and never written again: the string shares it.
	return unsafe.String(unsafe.SliceData(out), len(out))
}

// appendClaims writes the payload in protocol/auth's field names.
func appendClaims(b []byte, key string, o *Options, nbf, exp int64) []byte {
	b = append(b, `{"iss":`...)
	b = appendString(b, key)
	if o.Identity != "" {
		b = append(b, `,"sub":`...)
		b = appendString(b, o.Identity)
	}
	b = append(b, `,"nbf":`...)
	b = strconv.AppendInt(b, nbf, 10)
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, exp, 10)
	if o.Name != "" {
		b = append(b, `,"name":`...)
		b = appendString(b, o.Name)
	}
	if o.Metadata != "" {
		b = append(b, `,"metadata":`...)
		b = appendString(b, o.Metadata)
	}
	if len(o.Attributes) > 0 {
		b = append(b, `,"attributes":{`...)
		keys := make([]string, 0, len(o.Attributes))
		for k := range o.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys) // deterministic tokens
		for n, k := range keys {
			if n > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, o.Attributes[k])
		}
		b = append(b, '}')
	}
	b = append(b, `,"video":`...)
	b = o.Grant.appendJSON(b)
	return append(b, '}')
}

// Claims are what a verified token says.
type Claims struct {
	APIKey     string            `json:"apiKey"`
	Identity   string            `json:"identity,omitempty"`
	Name       string            `json:"name,omitempty"`
	Metadata   string            `json:"metadata,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Grant      Grant             `json:"grant"`
	NotBefore  time.Time         `json:"notBefore"`
	ExpiresAt  time.Time         `json:"expiresAt"`
}

type jwtClaims struct {
	jwt.RegisteredClaims
	Name       string            `json:"name,omitempty"`
	Metadata   string            `json:"metadata,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Video      *Grant            `json:"video,omitempty"`
}

const (
	opIssue  = "tokens.Issue"
	opVerify = "tokens.Verify"
)

// Verify checks a token issued for this key: HS256 signature, issuer, expiry, and
// not-before with 30 s of tolerance for clock skew.
func (i *Issuer) Verify(token string) (Claims, error) {
	var c jwtClaims
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(i.key),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(ClockSkewTolerance),
		jwt.WithTimeFunc(i.now),
	)
	_, err := p.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return i.secret, nil })
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Claims{}, &errs.Error{Op: opVerify, Kind: ErrExpired}
	case err != nil:
		return Claims{}, &errs.Error{Op: opVerify, Kind: ErrInvalidToken, Message: reason(err)}
	}
	out := Claims{APIKey: c.Issuer, Identity: c.Subject, Name: c.Name, Metadata: c.Metadata, Attributes: c.Attributes}
	if c.Video != nil {
		out.Grant = *c.Video
	}
	if c.NotBefore != nil {
		out.NotBefore = c.NotBefore.Time
	}
	out.ExpiresAt = c.ExpiresAt.Time
	if out.Grant.RoomJoin && out.Identity == "" {
		return Claims{}, &errs.Error{Op: opVerify, Kind: ErrInvalidToken, Message: "a token that joins a room needs an identity"}
	}
	return out, nil
}

// reason names what was wrong without quoting the token.
func reason(err error) string {
	for _, e := range []error{jwt.ErrTokenMalformed, jwt.ErrTokenSignatureInvalid, jwt.ErrTokenUnverifiable,
		jwt.ErrTokenNotValidYet, jwt.ErrTokenInvalidIssuer, jwt.ErrTokenRequiredClaimMissing, jwt.ErrTokenInvalidClaims} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "rejected"
}
