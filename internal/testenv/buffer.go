package testenv

import "github.com/spacemusic/streamkit/internal/stack"

// Buffer is a bytes.Buffer safe for concurrent writers and readers: process
// output, a server's log, a pull's progress stream.
type Buffer = stack.Buffer
