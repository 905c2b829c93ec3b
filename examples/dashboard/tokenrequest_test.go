package main

import "testing"

// A token request, the busiest body, is decoded by the fast path.
func TestATokenRequestIsFlat(t *testing.T) {
	if !isFlat(new(tokenRequest)) {
		t.Fatal("the token request no longer decodes by the fast path")
	}
}
