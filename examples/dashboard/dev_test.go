package main

import "github.com/spacemusic/streamkit/internal/stack"

// Tests run -dev as scripts/dev's build does.
func init() { devStack = stack.Dashboard }
