package lk

import (
	"strings"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/internal/names"
)

// Name checks a room name or participant identity (see names.Check).
func Name(op, what, s string) error {
	if err := names.Check(what, s); err != nil {
		return errs.Invalid(op, "%v", err)
	}
	return nil
}

// CheckID refuses an ID that cannot be one of LiveKit's IDs of that noun (e.g.
// "egress" with prefix "EG_") before a request goes out.
func CheckID(op, noun, prefix, id string) error {
	if !strings.HasPrefix(id, prefix) || len(id) > 64 || strings.ContainsAny(id, " \t\r\n/") {
		return errs.Invalid(op, "%s id %q is not an %s id (%s...)", noun, id, noun, prefix)
	}
	return nil
}
