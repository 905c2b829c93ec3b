package egress

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/internal/lk"
	"github.com/spacemusic/streamkit/spacemusic/internal/names"
)

// Object keys are chosen here, never by the caller, so that no recording can
// overwrite another:
//
//	<room>/<stamp>-<id>[-<suffix>].ogg           RecordAudio, RecordRoom (.mp4 or .ogg), RecordVideo (.mp4)
//	<room>/hls/<stamp>-<id>/playlist.m3u8        HLS, its segments beside it
//	<room>/stems/<stamp>-<id>-<identity>.<ext>   RecordStems (egress adds the extension)
//
// stamp is the UTC start as 2006-01-02T150405Z. id is random: the egress ID would
// be the natural choice, but LiveKit assigns it in answer to the start request that
// must already carry the key, and egress v1.8.6 expands only {room_name},
// {room_id}, {time}, {utc} (and {publisher_identity}, {track_id} for track egress)
// in file names, no egress ID. 64 random bits make two keys of one room and second
// collide once in billions of recordings.

// StampLayout is the time in object keys: UTC, sortable, no colons (which some
// S3 tools and file systems refuse).
const StampLayout = "2006-01-02T150405Z"

// MaxSuffix is the longest suffix a caller may add to a key.
const MaxSuffix = 64

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID is 64 random bits as 13 lower-case base32 characters.
func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return idEncoding.EncodeToString(b[:])
}

// keys makes object keys; now and id are fields so tests can pin them.
type keys struct {
	now func() time.Time
	id  func() string
}

var defaultKeys = keys{now: time.Now, id: newID}

// base is "<room>/[<folder>/]<stamp>-<id>": a name no other recording has.
func (k keys) base(op, room, folder string) (string, error) {
	if err := checkFolder(op, room); err != nil {
		return "", err
	}
	b := room + "/"
	if folder != "" {
		b += folder + "/"
	}
	return b + k.now().UTC().Format(StampLayout) + "-" + k.id(), nil
}

// file is base with the caller's suffix and the extension.
func (k keys) file(op, room, suffix, ext string) (string, error) {
	if err := checkSuffix(op, suffix); err != nil {
		return "", err
	}
	b, err := k.base(op, room, "")
	if err != nil {
		return "", err
	}
	if suffix != "" {
		b += "-" + suffix
	}
	return b + ext, nil
}

// checkFolder refuses room names that would leave the room's own folder or be
// expanded by egress: LiveKit accepts "a/b", ".." and "{room_id}" as room names,
// and a recording of such a room would land in another room's folder or under a
// name egress rewrites.
func checkFolder(op, room string) error {
	if err := lk.Name(op, "room name", room); err != nil {
		return err
	}
	// Braces too: egress would expand {room_id} and friends in the key.
	if !names.IsFolder(room) || strings.ContainsAny(room, "{}") {
		return errs.Invalid(op, "room name %q cannot be a folder of the bucket (no /, \\, .., { or })", room)
	}
	return nil
}

// checkSuffix accepts what a caller may add to a recording's key: up to MaxSuffix
// of A-Z, a-z, 0-9, _ and -. Anything else is refused, not rewritten, so the
// caller learns that a path, an extension or a template is not theirs to choose.
func checkSuffix(op, s string) error {
	if len(s) > MaxSuffix {
		return errs.Invalid(op, "file name suffix is %d characters; at most %d allowed", len(s), MaxSuffix)
	}
	for _, r := range s {
		if !keyChar(r) {
			return errs.Invalid(op, "file name suffix %q may hold only A-Z, a-z, 0-9, _ and -: the server chooses the folder, time and extension", s)
		}
	}
	return nil
}

// safeIdentity is an identity as it may appear in a stem's key. Identities come
// from LiveKit, not from the caller, so they are rewritten rather than refused:
// a performer named "../x" still gets her stem, inside the room's folder.
func safeIdentity(identity string) string {
	var b strings.Builder
	for _, r := range identity {
		if b.Len() >= MaxSuffix {
			break
		}
		if keyChar(r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// keyChar is what a caller's suffix and a stem's identity may hold in a key.
func keyChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-'
}
