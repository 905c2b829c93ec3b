package main

import (
	"testing"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
)

// A token request, the busiest body, is decoded by the fast path.
func TestATokenRequestIsFlat(t *testing.T) {
	if !api.IsFlat(new(tokenRequest)) {
		t.Fatal("the token request no longer decodes by the fast path")
	}
}
