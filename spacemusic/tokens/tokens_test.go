package tokens

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/livekit/protocol/auth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/spacemusic/errs"
)

const (
	key    = "streamkit"
	secret = "a-secret-of-at-least-32-characters!!"
)

func issuer(t testing.TB) *Issuer {
	t.Helper()
	i, err := NewIssuer(key, secret)
	require.NoError(t, err)
	return i
}

func payload(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3)
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	return m
}

// The performer gets exactly the seed's grant, for six hours.
func TestPerformerHasTheSeedsGrant(t *testing.T) {
	tok, err := issuer(t).Performer("friday-jam", "ada", WithName("Ada"))
	require.NoError(t, err)
	p := payload(t, tok.JWT)
	assert.Equal(t, map[string]any{"roomJoin": true, "room": "friday-jam", "canPublish": true, "canSubscribe": true, "canPublishData": true}, p["video"])
	assert.Equal(t, "ada", p["sub"])
	assert.Equal(t, "Ada", p["name"])
	assert.Equal(t, key, p["iss"])
	assert.InDelta(t, (6 * time.Hour).Seconds(), p["exp"].(float64)-p["nbf"].(float64), 1)
	assert.WithinDuration(t, time.Now().Add(6*time.Hour), tok.ExpiresAt, 2*time.Second)
	assert.NotContains(t, tok.String(), tok.JWT, "String must not leak the token")
}

// A listener may only listen: publishing flags are present and false, because an
// absent flag means "allowed" to LiveKit.
func TestListenerMayOnlyListen(t *testing.T) {
	tok, err := issuer(t).Listener("friday-jam", "bob", WithTTL(90*time.Second))
	require.NoError(t, err)
	video := payload(t, tok.JWT)["video"].(map[string]any)
	assert.Equal(t, false, video["canPublish"])
	assert.Equal(t, false, video["canPublishData"])
	assert.Equal(t, true, video["canSubscribe"])
	assert.WithinDuration(t, time.Now().Add(90*time.Second), tok.ExpiresAt, 2*time.Second)

	_, err = issuer(t).Listener("friday-jam", "bob", WithTTL(25*time.Hour))
	assert.ErrorIs(t, err, errs.ErrInvalidArgument)
	tok, err = issuer(t).Listener("friday-jam", "bob")
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(time.Hour), tok.ExpiresAt, 2*time.Second)
}

// An operator's monitor listens unseen: a listener's grant, hidden, for ten
// minutes by default and an hour at most.
func TestMonitorListensUnseen(t *testing.T) {
	i := fixedIssuer(t, showTime)
	tok, err := i.Monitor("friday-jam", "monitor-mia")
	require.NoError(t, err)
	p := payload(t, tok.JWT)
	assert.Equal(t, map[string]any{"roomJoin": true, "room": "friday-jam", "canPublish": false, "canSubscribe": true,
		"canPublishData": false, "hidden": true}, p["video"])
	assert.Equal(t, showTime.Add(10*time.Minute), tok.ExpiresAt, "default lifetime")

	tok, err = i.Monitor("friday-jam", "monitor-mia", WithTTL(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, showTime.Add(time.Hour), tok.ExpiresAt)
	_, err = i.Monitor("friday-jam", "monitor-mia", WithTTL(time.Hour+time.Second))
	assert.ErrorIs(t, err, errs.ErrInvalidArgument)
}

// A fixed clock on a whole second, so lifetimes and skews compare exactly.
var showTime = time.Unix(1_800_000_000, 0)

func fixedIssuer(t *testing.T, now time.Time) *Issuer {
	t.Helper()
	i := issuer(t)
	i.now = func() time.Time { return now }
	return i
}

// Listener lifetimes, written out rather than read from the package's constants: an
// hour by default, a day at most, not a second more.
func TestListenerLifetimes(t *testing.T) {
	i := fixedIssuer(t, showTime)

	tok, err := i.Listener("friday-jam", "bob")
	require.NoError(t, err)
	assert.Equal(t, showTime.Add(time.Hour), tok.ExpiresAt, "default lifetime")
	p := payload(t, tok.JWT)
	assert.Equal(t, float64(3600), p["exp"].(float64)-p["nbf"].(float64))

	for _, ttl := range []time.Duration{time.Hour, 24 * time.Hour} {
		tok, err := i.Listener("friday-jam", "bob", WithTTL(ttl))
		if assert.NoError(t, err, ttl) {
			assert.Equal(t, showTime.Add(ttl), tok.ExpiresAt, ttl)
		}
	}
	_, err = i.Listener("friday-jam", "bob", WithTTL(24*time.Hour+time.Second))
	assert.ErrorIs(t, err, errs.ErrInvalidArgument)
}

// Performers and moderators: six hours by default, a week at most.
func TestPerformerLifetimes(t *testing.T) {
	i := fixedIssuer(t, showTime)
	for name, mint := range map[string]func(...Option) (Token, error){
		"performer": func(o ...Option) (Token, error) { return i.Performer("friday-jam", "ada", o...) },
		"moderator": func(o ...Option) (Token, error) { return i.Moderator("friday-jam", "mia", o...) },
	} {
		tok, err := mint()
		require.NoError(t, err, name)
		assert.Equal(t, showTime.Add(6*time.Hour), tok.ExpiresAt, name)
		tok, err = mint(WithTTL(7 * 24 * time.Hour))
		require.NoError(t, err, name)
		assert.Equal(t, showTime.Add(7*24*time.Hour), tok.ExpiresAt, name)
		_, err = mint(WithTTL(7*24*time.Hour + time.Second))
		assert.ErrorIs(t, err, errs.ErrInvalidArgument, name)
	}
}

// Our tokens mean the same to protocol/auth (what LiveKit runs) as to us.
func TestTokensVerifyWithProtocolAuth(t *testing.T) {
	tok, err := issuer(t).Moderator("friday-jam", "mia", WithName("Mia"), WithMetadata(`{"role":"host"}`),
		WithAttributes(map[string]string{"desk": "front", "näme": "ü\"\n"}), WithSources("microphone"), WithHidden())
	require.NoError(t, err)

	v, err := auth.ParseAPIToken(tok.JWT)
	require.NoError(t, err)
	assert.Equal(t, key, v.APIKey())
	assert.Equal(t, "mia", v.Identity())
	grants, err := v.Verify(secret)
	require.NoError(t, err)
	assert.Equal(t, "Mia", grants.Name)
	assert.Equal(t, `{"role":"host"}`, grants.Metadata)
	assert.Equal(t, map[string]string{"desk": "front", "näme": "ü\"\n"}, grants.Attributes)
	g := grants.Video
	assert.True(t, g.RoomJoin && g.RoomAdmin && g.Hidden)
	assert.Equal(t, "friday-jam", g.Room)
	assert.True(t, g.GetCanPublish() && g.GetCanSubscribe() && g.GetCanPublishData())
	assert.Equal(t, []string{"microphone"}, g.CanPublishSources)

	_, err = v.Verify("another-secret-of-at-least-32-characters")
	assert.Error(t, err, "protocol/auth must reject our token under another secret")
}

// Tokens from protocol/auth (any LiveKit SDK) verify here.
func TestProtocolAuthTokensVerifyHere(t *testing.T) {
	at := auth.NewAccessToken(key, secret).SetIdentity("ada").SetName("Ada").SetValidFor(time.Hour).
		SetVideoGrant(&auth.VideoGrant{RoomJoin: true, Room: "friday-jam"}).SetMetadata("m")
	g := &auth.VideoGrant{RoomJoin: true, Room: "friday-jam"}
	g.SetCanPublish(false)
	at.SetVideoGrant(g)
	jwtStr, err := at.ToJWT()
	require.NoError(t, err)

	c, err := issuer(t).Verify(jwtStr)
	require.NoError(t, err)
	assert.Equal(t, "ada", c.Identity)
	assert.Equal(t, "Ada", c.Name)
	assert.Equal(t, "m", c.Metadata)
	assert.Equal(t, "friday-jam", c.Grant.Room)
	require.NotNil(t, c.Grant.CanPublish)
	assert.False(t, *c.Grant.CanPublish)
	assert.WithinDuration(t, time.Now().Add(time.Hour), c.ExpiresAt, 2*time.Second)
}

func TestVerifyRejects(t *testing.T) {
	i := issuer(t)
	good, err := i.Performer("r", "ada")
	require.NoError(t, err)

	t.Run("expired", func(t *testing.T) {
		old := issuer(t)
		old.now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
		tok, err := old.Listener("r", "bob", WithTTL(time.Hour))
		require.NoError(t, err)
		_, err = i.Verify(tok.JWT)
		assert.ErrorIs(t, err, ErrExpired)
	})
	t.Run("wrong secret", func(t *testing.T) {
		other, err := NewIssuer(key, "another-secret-of-at-least-32-characters")
		require.NoError(t, err)
		_, err = other.Verify(good.JWT)
		require.ErrorIs(t, err, ErrInvalidToken)
		assert.NotContains(t, err.Error(), good.JWT)
	})
	t.Run("other api key", func(t *testing.T) {
		other, err := NewIssuer("other", secret)
		require.NoError(t, err)
		_, err = other.Verify(good.JWT)
		assert.ErrorIs(t, err, ErrInvalidToken)
	})
	t.Run("alg none", func(t *testing.T) {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"iss": key, "sub": "x", "exp": time.Now().Add(time.Hour).Unix()})
		s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		require.NoError(t, err)
		_, err = i.Verify(s)
		assert.ErrorIs(t, err, ErrInvalidToken)
	})
	t.Run("HS512 instead of HS256", func(t *testing.T) {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{"iss": key, "sub": "x", "exp": time.Now().Add(time.Hour).Unix()})
		s, err := tok.SignedString([]byte(secret))
		require.NoError(t, err)
		_, err = i.Verify(s)
		assert.ErrorIs(t, err, ErrInvalidToken)
	})
	t.Run("garbage", func(t *testing.T) {
		_, err := i.Verify("not.a.token")
		assert.ErrorIs(t, err, ErrInvalidToken)
	})
	t.Run("join without identity", func(t *testing.T) {
		at := auth.NewAccessToken(key, secret).SetVideoGrant(&auth.VideoGrant{RoomJoin: true, Room: "r"})
		s, err := at.ToJWT()
		require.NoError(t, err)
		_, err = i.Verify(s)
		assert.ErrorIs(t, err, ErrInvalidToken)
	})
}

// A server whose clock runs a little behind still accepts a fresh token.
func TestNotBeforeToleratesClockSkew(t *testing.T) {
	ahead := issuer(t)
	ahead.now = func() time.Time { return time.Now().Add(10 * time.Second) }
	tok, err := ahead.Performer("r", "ada")
	require.NoError(t, err)
	_, err = issuer(t).Verify(tok.JWT)
	assert.NoError(t, err)

	ahead.now = func() time.Time { return time.Now().Add(5 * time.Minute) }
	tok, err = ahead.Performer("r", "ada")
	require.NoError(t, err)
	_, err = issuer(t).Verify(tok.JWT)
	assert.ErrorIs(t, err, ErrInvalidToken)
}

// The tolerance is 30 s (README): a token minted 29 s in the verifier's future is
// accepted, one minted 31 s ahead is refused. Both clocks are fixed so the edge is exact.
func TestClockSkewToleranceIsThirtySeconds(t *testing.T) {
	verifier := fixedIssuer(t, showTime)
	for skew, ok := range map[time.Duration]bool{29 * time.Second: true, 31 * time.Second: false} {
		tok, err := fixedIssuer(t, showTime.Add(skew)).Performer("r", "ada")
		require.NoError(t, err)
		_, err = verifier.Verify(tok.JWT)
		if ok {
			assert.NoError(t, err, skew)
		} else if assert.ErrorIs(t, err, ErrInvalidToken, skew) {
			assert.Contains(t, err.Error(), "not valid yet", skew)
		}
	}
}

func TestInvalidInput(t *testing.T) {
	i := issuer(t)
	for name, call := range map[string]func() error{
		"empty identity":     func() error { _, err := i.Performer("r", ""); return err },
		"long identity":      func() error { _, err := i.Performer("r", strings.Repeat("a", 129)); return err },
		"identity space":     func() error { _, err := i.Listener("r", "a b"); return err },
		"identity newline":   func() error { _, err := i.Listener("r", "a\nb"); return err },
		"identity bad utf-8": func() error { _, err := i.Listener("r", "\xff"); return err },
		"empty room":         func() error { _, err := i.Moderator("", "ada"); return err },
		"negative ttl":       func() error { _, err := i.Issue(Options{TTL: -time.Second}); return err },
		"ttl above a week":   func() error { _, err := i.Issue(Options{TTL: 7*24*time.Hour + time.Second}); return err },
	} {
		t.Run(name, func(t *testing.T) { assert.ErrorIs(t, call(), errs.ErrInvalidArgument) })
	}

	_, err := NewIssuer(key, "too-short")
	require.ErrorIs(t, err, errs.ErrInvalidArgument)
	assert.NotContains(t, err.Error(), "too-short")
	_, err = NewIssuer("", secret)
	assert.ErrorIs(t, err, errs.ErrInvalidArgument)
}

// Whatever a name or metadata holds, the token is valid JSON that protocol/auth and
// Verify read back unchanged (invalid UTF-8 becomes U+FFFD, as encoding/json does).
func FuzzIssueVerify(f *testing.F) {
	f.Add("ada", "Ada Lovelace", `{"x":"\u2028"}`, "k", "v")
	f.Add("b\"o\\b", "\x00\x1f\x7f", "\xff\xfe", "ü", "\t")
	i := issuer(f)
	f.Fuzz(func(t *testing.T, identity, name, metadata, ak, av string) {
		tok, err := i.Issue(Options{Identity: identity, Name: name, Metadata: metadata, Attributes: map[string]string{ak: av}, Grant: Grant{RoomJoin: true, Room: "r"}})
		if err != nil {
			require.ErrorIs(t, err, errs.ErrInvalidArgument)
			return
		}
		c, err := i.Verify(tok.JWT)
		require.NoError(t, err)
		want := func(s string) string {
			b, _ := json.Marshal(s)
			var out string
			_ = json.Unmarshal(b, &out)
			return out
		}
		assert.Equal(t, want(identity), c.Identity)
		assert.Equal(t, want(name), c.Name)
		assert.Equal(t, want(metadata), c.Metadata)
		assert.Equal(t, map[string]string{want(ak): want(av)}, c.Attributes)

		v, err := auth.ParseAPIToken(tok.JWT)
		require.NoError(t, err)
		g, err := v.Verify(secret)
		require.NoError(t, err)
		assert.Equal(t, want(name), g.Name)
	})
}

// The hand-written grant encoder agrees with encoding/json on every field.
func TestGrantJSONMatchesEncodingJSON(t *testing.T) {
	for _, g := range []Grant{
		{},
		{RoomCreate: true, RoomList: true, RoomRecord: true, RoomAdmin: true, RoomJoin: true, Room: `r"\`,
			CanPublish: no, CanSubscribe: yes, CanPublishData: no, CanPublishSources: []string{"camera", "microphone"},
			CanUpdateOwnMetadata: yes, IngressAdmin: true, Hidden: true, Recorder: true},
	} {
		want, err := json.Marshal(g)
		require.NoError(t, err)
		assert.JSONEq(t, string(want), string(g.appendJSON(nil)))
	}
}
