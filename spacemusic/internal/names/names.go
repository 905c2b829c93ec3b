// Package names holds the one rule for room names and identities, shared by the
// token issuer and the services.
package names

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxLen bounds room names and identities. LiveKit accepts longer ones, but names
// travel in URLs, tokens and file names, so we keep them short.
const MaxLen = 128

// Check accepts 1..128 bytes of UTF-8 without whitespace or control characters ("a
// code without spaces"). what names the value in the error, e.g. "room name".
func Check(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%s is required", what)
	case len(s) > MaxLen:
		return fmt.Errorf("%s is %d bytes long; at most %d allowed", what, len(s), MaxLen)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s is not valid UTF-8", what)
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("%s %q contains whitespace or control characters", what, s)
		}
	}
	return nil
}

// IsFolder reports whether a room name can be a folder of the recordings
// bucket: not "." and without a slash, a backslash or "..", so that nothing
// written or read for the room leaves its own folder. (LiveKit accepts such
// names.)
func IsFolder(room string) bool {
	return room != "." && !strings.ContainsAny(room, `/\`) && !strings.Contains(room, "..")
}
