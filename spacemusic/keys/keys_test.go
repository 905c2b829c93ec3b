package keys

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/spacemusic/errs"
)

var pinned = Maker{Now: func() time.Time { return time.Date(2026, 11, 25, 21, 15, 0, 0, time.FixedZone("CET", 3600)) },
	ID: func() string { return "k3x7q2abcdefg" }}

// The server names every object: room folder, UTC time, a random id, then at most
// the caller's suffix.
func TestKeysAreTheServers(t *testing.T) {
	k, err := pinned.File("op", "friday-jam", "", ".ogg")
	require.NoError(t, err)
	assert.Equal(t, "friday-jam/2026-11-25T201500Z-k3x7q2abcdefg.ogg", k, "UTC, not the local zone")
	k, err = pinned.File("op", "friday-jam", "encore_2", ".ogg")
	require.NoError(t, err)
	assert.Equal(t, "friday-jam/2026-11-25T201500Z-k3x7q2abcdefg-encore_2.ogg", k)
	run, err := pinned.New("op", "friday-jam", "hls")
	require.NoError(t, err)
	assert.Equal(t, "friday-jam/hls/2026-11-25T201500Z-k3x7q2abcdefg", run.String())
}

// Two recordings of one room in the same second never share a key.
func TestKeysAreUnique(t *testing.T) {
	same := Default
	same.Now = pinned.Now
	seen := map[string]bool{}
	for range 10_000 {
		k, err := same.File("op", "friday-jam", "", ".ogg")
		require.NoError(t, err)
		require.False(t, seen[k], "duplicate key %s", k)
		seen[k] = true
	}
	assert.Regexp(t, regexp.MustCompile(`^[a-z2-7]{13}$`), NewID(), "64 bits, lower-case base32")
}

// A caller's suffix that tries to be a path, an extension or a template is
// refused, not rewritten.
func TestHostileSuffixesAreRefused(t *testing.T) {
	for _, bad := range []string{"../escape", "other-room/x", `a\b`, "..", "x.mp4", "{room_name}", "{time}", "a b", "é",
		"a/../../b", "%2e%2e", "x\x00", strings.Repeat("a", MaxSuffix+1)} {
		_, err := pinned.File("op", "friday-jam", bad, ".ogg")
		assert.ErrorIs(t, err, errs.ErrInvalidArgument, "%q", bad)
	}
	_, err := pinned.File("op", "friday-jam", strings.Repeat("a", MaxSuffix), ".ogg")
	assert.NoError(t, err)
}

// LiveKit accepts room names that are paths or templates; they get no folder.
func TestRoomsThatAreNotFoldersAreRefused(t *testing.T) {
	for _, bad := range []string{"", "a/b", "..", "../x", `a\b`, "{room_id}", "x}", ".", "a b"} {
		_, err := pinned.New("op", bad, "")
		assert.ErrorIs(t, err, errs.ErrInvalidArgument, "%q", bad)
	}
}

func TestStemIdentitiesStayInTheFolder(t *testing.T) {
	run, err := pinned.New("op", "friday-jam", "stems")
	require.NoError(t, err)
	prefix := "friday-jam/stems/2026-11-25T201500Z-k3x7q2abcdefg-"
	assert.Equal(t, prefix+"ada", run.Stem("ada"))
	assert.Equal(t, prefix+"___x", run.Stem("../x"))
	assert.Equal(t, prefix+"_room_name_", run.Stem("{room_name}"))
	assert.Len(t, strings.TrimPrefix(run.Stem(strings.Repeat("é", 100)), prefix), MaxSuffix)
}

// Whatever the suffix, a key it is accepted into stays in the room's folder,
// one level deep, with the server's time and id in front and the extension last.
func FuzzKeySuffix(f *testing.F) {
	for _, s := range []string{"", "encore", "../x", "{time}", "a.ogg", "a/b", "\\", strings.Repeat("z", 70)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, suffix string) {
		k, err := pinned.File("op", "friday-jam", suffix, ".ogg")
		if err != nil {
			if !assert.ErrorIs(t, err, errs.ErrInvalidArgument) {
				t.FailNow()
			}
			return
		}
		prefix := "friday-jam/2026-11-25T201500Z-k3x7q2abcdefg"
		if !strings.HasPrefix(k, prefix) || !strings.HasSuffix(k, ".ogg") || strings.Count(k, "/") != 1 ||
			strings.Contains(k, "..") || strings.ContainsAny(k, "{}\\") || strings.Count(k, ".") != 1 || len(k) > len(prefix)+1+MaxSuffix+4 {
			t.Fatalf("suffix %q made key %q", suffix, k)
		}
	})
}
