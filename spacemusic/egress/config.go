package egress

import "github.com/spacemusic/streamkit/spacemusic/internal/lk"

// Config says how to reach LiveKit: URL, API key and secret, per-call timeout and an
// optional shared *http.Client.
type Config = lk.Config
