package shows

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/spacemusic/errs"
)

func friday() Spec {
	return Spec{Name: "friday-jam", Performers: []Performer{{Identity: "ada", Name: "Ada"}, {Identity: "obs-main", Name: "Main mix", Via: OBS}},
		Ingest: Ingest{Kind: RTMP, AudioOnly: true}, Record: []string{"audio", "stems"},
		Restream: []string{"rtmp://live.example.org/app/SECRET-KEY"}, ListenerTTL: time.Hour, EndAfter: 10 * time.Minute}
}

// Bad specs are refused before anything is asked of LiveKit, with every problem
// named in one ErrInvalidArgument, and no stream key in the message.
func TestBadSpecsAreRefusedClearly(t *testing.T) {
	cases := map[string]struct {
		mend func(*Spec)
		says string
	}{
		"no name":              {func(s *Spec) { s.Name = "" }, "show name is required"},
		"a space in the name":  {func(s *Spec) { s.Name = "friday jam" }, "whitespace"},
		"a path for a name":    {func(s *Spec) { s.Name = "a/../b" }, "folder"},
		"a huge name":          {func(s *Spec) { s.Name = strings.Repeat("x", 10_000) }, "at most 128"},
		"twice the same":       {func(s *Spec) { s.Performers = append(s.Performers, Performer{Identity: "ada"}) }, `"ada" is listed twice`},
		"a bad identity":       {func(s *Spec) { s.Performers[0].Identity = "ada lovelace" }, "identity"},
		"a name with controls": {func(s *Spec) { s.Performers[0].Name = "Ada\x00" }, "control characters"},
		"a bad via":            {func(s *Spec) { s.Performers[0].Via = "carrier-pigeon" }, `"carrier-pigeon"`},
		"two via obs":          {func(s *Spec) { s.Performers[0].Via = OBS }, "2 performers come via obs"},
		"obs without ingest":   {func(s *Spec) { s.Ingest = Ingest{} }, "no ingest"},
		"an unknown ingest":    {func(s *Spec) { s.Ingest.Kind = "srt" }, `"srt"`},
		"a pull without url": {func(s *Spec) {
			s.Performers = s.Performers[:1]
			s.Ingest = Ingest{Kind: PullURL, URL: "file:///etc/passwd"}
		}, "http or https"},
		"an unknown record":   {func(s *Spec) { s.Record = append(s.Record, "vinyl") }, `record "vinyl"`},
		"video without video": {func(s *Spec) { s.Record = append(s.Record, "video") }, "record video, but the ingest is audio only"},
		"a bad destination":   {func(s *Spec) { s.Restream = []string{"http://x/app/OTHER-SECRET"} }, "is not an rtmp(s)"},
		"too many performers": {func(s *Spec) { s.Performers = make([]Performer, 100_000) }, "100000 performers; at most 64"},
		"too many destinations": {func(s *Spec) {
			s.Restream = make([]string, 9)
			for i := range s.Restream {
				s.Restream[i] = "rtmp://x/app/k"
			}
		}, "9 restream destinations"},
		"a long listener ttl": {func(s *Spec) { s.ListenerTTL = 48 * time.Hour }, "listener token lifetime"},
		"a negative end":      {func(s *Spec) { s.EndAfter = -time.Second }, "end-after"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := friday()
			c.mend(&s)
			err := s.Validate()
			require.Error(t, err)
			assert.True(t, errors.Is(err, errs.ErrInvalidArgument), "%v", err)
			var e *errs.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, "shows.Validate", e.Op)
			assert.Contains(t, err.Error(), c.says)
			assert.NotContains(t, err.Error(), "SECRET")
			assert.Less(t, len(err.Error()), 2000, "a huge spec gets a short answer")
		})
	}
	assert.NoError(t, friday().Validate())
	video := friday()
	video.Ingest.AudioOnly, video.Record = false, []string{"video", "hls"}
	assert.NoError(t, video.Validate(), "OBS with video: its audio and video recorded")
}

// The room's metadata is a small versioned envelope without a credential: the
// restream key is a digest, and the stored spec reads back as the spec.
func TestTheEnvelopeKeepsNoSecret(t *testing.T) {
	s, err := friday().normal()
	require.NoError(t, err)
	md := encode(s, false)
	assert.NotContains(t, md, "SECRET-KEY")
	assert.Contains(t, md, `"kind":"streamkit.show","v":1`)
	assert.Less(t, len(md), 1024)
	env, err := decode("shows.Get", "friday-jam", md)
	require.NoError(t, err)
	back := env.Spec.spec("friday-jam")
	assert.Equal(t, s.Performers, back.Performers)
	assert.Equal(t, s.Record, back.Record)
	assert.Equal(t, s.ListenerTTL, back.ListenerTTL)
	assert.Equal(t, s.EndAfter, back.EndAfter)
	assert.Equal(t, s.Ingest.AudioOnly, back.Ingest.AudioOnly)
	assert.Len(t, back.Restream, 1)
	assert.NotContains(t, back.Restream[0], "SECRET")
	ch, err := diff("friday-jam", env.Spec, s)
	require.NoError(t, err)
	assert.Empty(t, ch.addPerformers, "the same spec is no change")
	assert.Empty(t, ch.addRestream)
}

// An open show takes new performers and destinations; anything else is refused
// naming what differs.
func TestAChangedSpecIsADifferenceOrRefused(t *testing.T) {
	old, err := friday().normal()
	require.NoError(t, err)
	st := store(old)

	grown := friday()
	grown.Performers = append(grown.Performers, Performer{Identity: "bob"})
	grown.Restream = append(grown.Restream, "rtmp://other.example.org/live/KEY2")
	grown, err = grown.normal()
	require.NoError(t, err)
	ch, err := diff("friday-jam", st, grown)
	require.NoError(t, err)
	assert.Equal(t, []Performer{{Identity: "bob", Via: Browser}}, ch.addPerformers)
	assert.Equal(t, []string{"rtmp://other.example.org/live/KEY2"}, ch.addRestream)

	changed := friday()
	changed.Record = []string{"hls"}
	changed.Performers = changed.Performers[1:]
	changed.Restream = nil
	changed, err = changed.normal()
	require.NoError(t, err)
	_, err = diff("friday-jam", st, changed)
	require.Error(t, err)
	assert.True(t, errors.Is(err, errs.ErrFailedPrecondition), "%v", err)
	for _, what := range []string{"record plan", `performer "ada" removed`, "restream destinations removed"} {
		assert.Contains(t, err.Error(), what)
	}
}

// Metadata someone else wrote is never taken for a show, and a show's envelope
// changed into nonsense is refused, not obeyed.
func TestForeignOrTamperedMetadataIsRefused(t *testing.T) {
	s, err := friday().normal()
	require.NoError(t, err)
	good := encode(s, false)
	for name, md := range map[string]string{
		"empty":         "",
		"someone's set": `{"setlist":["a","b"]}`,
		"not json":      "<xml/>",
	} {
		_, err := decode("shows.Open", "friday-jam", md)
		assert.ErrorIs(t, err, errNotAShow, name)
		assert.ErrorIs(t, err, errs.ErrFailedPrecondition, name)
	}
	for name, md := range map[string]string{
		"a future format":   strings.Replace(good, `"v":1`, `"v":7`, 1),
		"a bad record plan": strings.Replace(good, `"record":["audio","stems"]`, `"record":["everything"]`, 1),
		"a bad performer":   strings.Replace(good, `"identity":"ada"`, `"identity":"a d a"`, 1),
		"a bad ttl":         strings.Replace(good, `"listenerTtlSec":3600`, `"listenerTtlSec":-5`, 1),
	} {
		require.NotEqual(t, good, md, name)
		_, err := decode("shows.Open", "friday-jam", md)
		require.Error(t, err, name)
		assert.ErrorIs(t, err, errs.ErrFailedPrecondition, name)
		assert.NotErrorIs(t, err, errNotAShow, name)
		assert.Contains(t, err.Error(), `"friday-jam"`, name)
	}
}
