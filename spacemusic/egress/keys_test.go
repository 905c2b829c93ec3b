package egress

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/spacemusic/errs"
)

var pinned = keys{now: func() time.Time { return time.Date(2026, 11, 25, 21, 15, 0, 0, time.FixedZone("CET", 3600)) },
	id: func() string { return "k3x9q2abcdefg" }}

// The server names every object: room folder, UTC time, a random id, then at most
// the caller's suffix.
func TestKeysAreTheServers(t *testing.T) {
	k, err := pinned.file("op", "friday-jam", "", ".ogg")
	require.NoError(t, err)
	assert.Equal(t, "friday-jam/2026-11-25T201500Z-k3x9q2abcdefg.ogg", k, "UTC, not the local zone")
	k, err = pinned.file("op", "friday-jam", "encore_2", ".ogg")
	require.NoError(t, err)
	assert.Equal(t, "friday-jam/2026-11-25T201500Z-k3x9q2abcdefg-encore_2.ogg", k)
	k, err = pinned.base("op", "friday-jam", "hls")
	require.NoError(t, err)
	assert.Equal(t, "friday-jam/hls/2026-11-25T201500Z-k3x9q2abcdefg", k)
}

// Two recordings of one room in the same second never share a key.
func TestKeysAreUnique(t *testing.T) {
	same := defaultKeys
	same.now = pinned.now
	seen := map[string]bool{}
	for range 10_000 {
		k, err := same.file("op", "friday-jam", "", ".ogg")
		require.NoError(t, err)
		require.False(t, seen[k], "duplicate key %s", k)
		seen[k] = true
	}
	assert.Regexp(t, regexp.MustCompile(`^[a-z2-7]{13}$`), newID(), "64 bits, lower-case base32")
}

// A caller's suffix that tries to be a path, an extension or a template is
// refused, not rewritten.
func TestHostileSuffixesAreRefused(t *testing.T) {
	for _, bad := range []string{"../escape", "other-room/x", `a\b`, "..", "x.mp4", "{room_name}", "{time}", "a b", "é",
		"a/../../b", "%2e%2e", "x\x00", strings.Repeat("a", MaxSuffix+1)} {
		_, err := pinned.file("op", "friday-jam", bad, ".ogg")
		assert.ErrorIs(t, err, errs.ErrInvalidArgument, "%q", bad)
	}
	_, err := pinned.file("op", "friday-jam", strings.Repeat("a", MaxSuffix), ".ogg")
	assert.NoError(t, err)
}

// LiveKit accepts room names that are paths or templates; they get no folder.
func TestRoomsThatAreNotFoldersAreRefused(t *testing.T) {
	for _, bad := range []string{"", "a/b", "..", "../x", `a\b`, "{room_id}", "x}", ".", "a b"} {
		_, err := pinned.base("op", bad, "")
		assert.ErrorIs(t, err, errs.ErrInvalidArgument, "%q", bad)
	}
}

func TestStemIdentitiesStayInTheFolder(t *testing.T) {
	assert.Equal(t, "ada", safeIdentity("ada"))
	assert.Equal(t, "___x", safeIdentity("../x"))
	assert.Equal(t, "_room_name_", safeIdentity("{room_name}"))
	assert.Len(t, safeIdentity(strings.Repeat("é", 100)), MaxSuffix)
}

// Whatever the suffix, a key it is accepted into stays in the room's folder,
// one level deep, with the server's time and id in front and the extension last.
func FuzzKeySuffix(f *testing.F) {
	for _, s := range []string{"", "encore", "../x", "{time}", "a.ogg", "a/b", "\\", strings.Repeat("z", 70)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, suffix string) {
		k, err := pinned.file("op", "friday-jam", suffix, ".ogg")
		if err != nil {
			if !assert.ErrorIs(t, err, errs.ErrInvalidArgument) {
				t.FailNow()
			}
			return
		}
		prefix := "friday-jam/2026-11-25T201500Z-k3x9q2abcdefg"
		if !strings.HasPrefix(k, prefix) || !strings.HasSuffix(k, ".ogg") || strings.Count(k, "/") != 1 ||
			strings.Contains(k, "..") || strings.ContainsAny(k, "{}\\") || strings.Count(k, ".") != 1 || len(k) > len(prefix)+1+MaxSuffix+4 {
			t.Fatalf("suffix %q made key %q", suffix, k)
		}
	})
}
