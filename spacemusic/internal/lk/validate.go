package lk

import "github.com/spacemusic/streamkit/spacemusic/internal/names"

// Name checks a room name or participant identity (see names.Check).
func Name(op, what, s string) error {
	if err := names.Check(what, s); err != nil {
		return Invalid(op, "%v", err)
	}
	return nil
}
