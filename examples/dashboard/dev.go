//go:build dev

package main

import "github.com/spacemusic/streamkit/internal/stack"

// A dev build (scripts/dev) runs its own stack for -dev.
func init() { devStack = stack.Dashboard }
