// Package keys owns the object keys of recordings: the one place that makes
// them (egress, the shows' recorder), checks them (the archive, downloads) and
// tells their room. Keys are chosen here, never by a caller, so that no
// recording can overwrite another:
//
//	<room>/<stamp>-<id>[-<suffix>].<ext>         a file: show audio, room composites, video, the recorder's parts
//	<room>/hls/<stamp>-<id>/playlist.m3u8        HLS, its segments beside it
//	<room>/stems/<stamp>-<id>-<identity>.<ext>   stems (egress adds the extension)
//
// stamp is the UTC start as 2006-01-02T150405Z. id is random: the egress ID would
// be the natural choice, but LiveKit assigns it in answer to the start request that
// must already carry the key, and egress v1.8.6 expands only {room_name},
// {room_id}, {time}, {utc} (and {publisher_identity}, {track_id} for track egress)
// in file names, no egress ID. 64 random bits make two keys of one room and second
// collide once in billions of recordings.
package keys

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/internal/names"
)

// StampLayout is the time in object keys: UTC, sortable, no colons (which some
// S3 tools and file systems refuse).
const StampLayout = "2006-01-02T150405Z"

// MaxSuffix is the longest suffix a caller may add to a key.
const MaxSuffix = 64

// OwnPrefix starts the IDs of recordings this module makes itself (the shows'
// recorder, package capture: "CA_" and the key's ID), as egress's start with
// EG_. The watched model's resync, which ends recordings LiveKit does not list,
// leaves these alone.
const OwnPrefix = "CA_"

// MaxLen is S3's limit for object keys.
const MaxLen = 1024

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID is 64 random bits as 13 lower-case base32 characters.
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return idEncoding.EncodeToString(b[:])
}

// Name is the part of a key no other recording has: where, when and which.
type Name struct {
	Room   string
	Folder string // "", "hls" or "stems"
	At     time.Time
	ID     string
}

// String is "<room>/[<folder>/]<stamp>-<id>".
func (n Name) String() string {
	b := n.Room + "/"
	if n.Folder != "" {
		b += n.Folder + "/"
	}
	return b + n.At.UTC().Format(StampLayout) + "-" + n.ID
}

// File is the key of a file named n: the caller's suffix (checked by Maker.File
// or CheckSuffix) and the extension after it.
func (n Name) File(suffix, ext string) string {
	b := n.String()
	if suffix != "" {
		b += "-" + suffix
	}
	return b + ext
}

// Stem is the key (without extension) of identity's stem in the run named n.
// Identities come from LiveKit, not from the caller, so they are rewritten
// rather than refused: a performer named "../x" still gets her stem, inside
// the room's folder.
func (n Name) Stem(identity string) string {
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
	return n.String() + "-" + b.String()
}

// Maker names recordings; Now and ID are fields so tests can pin them.
type Maker struct {
	Now func() time.Time
	ID  func() string
}

// Default names recordings by the clock and crypto/rand.
var Default = Maker{Now: time.Now, ID: NewID}

// New names a recording of room (in folder, "" for the room's own) that
// starts now. op names the caller's operation in errors.
func (m Maker) New(op, room, folder string) (Name, error) {
	if err := CheckFolder(op, room); err != nil {
		return Name{}, err
	}
	return Name{Room: room, Folder: folder, At: m.Now().UTC(), ID: m.ID()}, nil
}

// File is New's key of a file in the room's own folder, with the caller's
// suffix (checked) and the extension.
func (m Maker) File(op, room, suffix, ext string) (string, error) {
	if err := CheckSuffix(op, suffix); err != nil {
		return "", err
	}
	n, err := m.New(op, room, "")
	if err != nil {
		return "", err
	}
	return n.File(suffix, ext), nil
}

// CheckFolder refuses room names that would leave the room's own folder or be
// expanded by egress: LiveKit accepts "a/b", ".." and "{room_id}" as room names,
// and a recording of such a room would land in another room's folder or under a
// name egress rewrites.
func CheckFolder(op, room string) error {
	if err := names.Check("room name", room); err != nil {
		return errs.Invalid(op, "%v", err)
	}
	// Braces too: egress would expand {room_id} and friends in the key.
	if !names.IsFolder(room) || strings.ContainsAny(room, "{}") {
		return errs.Invalid(op, "room name %q cannot be a folder of the bucket (no /, \\, .., { or })", room)
	}
	return nil
}

// CheckSuffix accepts what a caller may add to a recording's key: up to MaxSuffix
// of A-Z, a-z, 0-9, _ and -. Anything else is refused, not rewritten, so the
// caller learns that a path, an extension or a template is not theirs to choose.
func CheckSuffix(op, s string) error {
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

// keyChar is what a caller's suffix and a stem's identity may hold in a key.
func keyChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-'
}

const opCheck = "keys.Check"

// CheckRoom accepts the room names whose folders the archive lists: LiveKit's
// room-name rule, and nothing a path could be tricked with.
func CheckRoom(room string) error {
	if err := names.Check("room name", room); err != nil {
		return errs.Invalid(opCheck, "%v", err)
	}
	if !names.IsFolder(room) {
		return errs.Invalid(opCheck, "room name %q", room)
	}
	return nil
}

// Check accepts the keys of recordings: inside a room's folder (room/...),
// relative, without empty, "." or ".." elements, backslashes or control
// characters. It is what stands between a caller's path and the bucket.
func Check(key string) error {
	bad := func(why string) error { return errs.Invalid(opCheck, "key %q %s", key, why) }
	switch {
	case key == "":
		return errs.Invalid(opCheck, "key is required")
	case len(key) > MaxLen:
		return errs.Invalid(opCheck, "key is longer than %d bytes", MaxLen)
	case !utf8.ValidString(key):
		return errs.Invalid(opCheck, "key is not valid UTF-8")
	case strings.Contains(key, ".."):
		return bad("contains ..")
	case strings.Contains(key, "\\"):
		return bad("contains a backslash")
	case strings.ContainsFunc(key, unicode.IsControl):
		return bad("contains control characters")
	}
	parts := strings.Split(key, "/")
	if len(parts) < 2 {
		return bad("is not inside a room's folder")
	}
	if err := CheckRoom(parts[0]); err != nil {
		return bad("is not inside a room's folder")
	}
	for _, p := range parts[1:] {
		if p == "" || p == "." {
			return bad("has an empty or . element")
		}
		if strings.TrimFunc(p, unicode.IsSpace) != p {
			return bad("has an element that begins or ends with a space") // stores trim or refuse them
		}
	}
	return nil
}

// Room is the room whose folder holds key, or "" for a key in no folder.
func Room(key string) string {
	if i := strings.IndexByte(key, '/'); i > 0 {
		return key[:i]
	}
	return ""
}
