package shows

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/spacemusic/errs"
)

func sealer(secret string) *Service {
	return &Service{cfg: Config{Logger: slog.Default()}, sealKey: derive(secret, sealLabel), openerKey: derive(secret, openerLabel),
		good: map[string]envelope{}, reported: map[string]string{}}
}

// A moderator can rewrite room metadata but holds no API secret: every edit
// of a sealed envelope, and an envelope with no seal, is caught.
func TestASealedSpecCatchesEveryEdit(t *testing.T) {
	s := sealer("an-api-secret-of-at-least-32-characters")
	olga := Principal{Name: "olga@example.test", Method: "forward-auth"}
	md := s.seal(envelope{Marker: marker, Version: formatVersion, Spec: store(friday()), Opener: s.openerOf(olga)})
	env, err := s.read("shows.Get", "friday-jam", md)
	require.NoError(t, err)
	assert.False(t, env.Closing)
	assert.NotContains(t, md, "olga", "listeners read room metadata: the opener is a keyed digest")

	for what, edited := range map[string]string{
		"closing flipped":          strings.Replace(md, `"v":1,`, `"v":1,"closing":true,`, 1),
		"closing in another case":  strings.Replace(md, `"v":1,`, `"v":1,"Closing":true,`, 1),
		"record plan emptied":      strings.Replace(md, `"record":["audio","stems"],`, ``, 1),
		"opener replaced":          strings.Replace(md, env.Opener, s.openerOf(Principal{Name: "mallory", Method: "bearer"}), 1),
		"seal removed":             strings.Replace(md, `,"seal":"`+env.Seal+`"`, ``, 1),
		"sealed under another key": sealer("another-secret-of-at-least-32-characters").seal(env),
		"unsigned, as before":      encode(friday(), true),
	} {
		require.NotEqual(t, md, edited, what)
		_, err := s.read("shows.Run", "friday-jam", edited)
		assert.ErrorIs(t, err, ErrTampered, what)
		assert.ErrorIs(t, err, errs.ErrFailedPrecondition, what)
	}
	// Unknown fields change nothing that is obeyed: still good.
	_, err = s.read("shows.Run", "friday-jam", strings.Replace(md, `"v":1,`, `"v":1,"note":"hi",`, 1))
	assert.NoError(t, err)
	good, ok := s.lastGood("friday-jam")
	require.True(t, ok)
	assert.False(t, good.Closing, "the last good spec is kept")
}

// The opener's digest tells principals apart, by name and by method.
func TestTheOpenerIsAPrincipal(t *testing.T) {
	s := sealer("an-api-secret-of-at-least-32-characters")
	a := s.openerOf(Principal{Name: "ada", Method: "bearer"})
	assert.Equal(t, a, s.openerOf(Principal{Name: "ada", Method: "bearer"}))
	assert.NotEqual(t, a, s.openerOf(Principal{Name: "ada", Method: "forward-auth"}))
	assert.NotEqual(t, a, s.openerOf(Principal{Name: "ad", Method: "abearer"}))
	assert.Empty(t, s.openerOf(Principal{}), "nobody opened it")
	sh := Show{opener: a}
	assert.True(t, s.OpenedBy(sh, Principal{Name: "ada", Method: "bearer"}))
	assert.False(t, s.OpenedBy(sh, Principal{Name: "bob", Method: "bearer"}))
	assert.False(t, s.OpenedBy(Show{}, Principal{}), "no opener: nobody's")
}
