package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/nodes"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/showroutes"
)

// The operator opens a show and asks which LiveKit node carries it: the node
// view (LiveKit's own Redis) lists the one node, alive, hosting one room and
// the show; the show itself names its node and is not lost. A viewer may not
// look at the nodes.
func TestTheNodesShowTheirLoadAndTheirShows(t *testing.T) {
	s := newStage(t, nil)
	code, body := s.call(t, "POST", "/api/shows", map[string]any{"name": "tuesday"}, "X-API-Key", testOperatorKey)
	require.Equal(t, 201, code, "%s", body)

	var seen []nodes.View
	require.True(t, poll(t, 10*time.Second, "the node never reported the show's room", func() (bool, string) {
		code, body := s.call(t, "GET", "/api/nodes", nil, "X-API-Key", testOperatorKey)
		seen = nil
		_ = json.Unmarshal(body, &seen)
		return code == 200 && len(seen) == 1 && seen[0].Rooms == 1, string(body)
	}))
	n := seen[0]
	assert.True(t, n.Alive)
	assert.Equal(t, "serving", n.State)
	assert.Equal(t, []string{"tuesday"}, n.Shows)
	assert.Positive(t, n.CPUs)
	assert.WithinDuration(t, time.Now(), n.UpdatedAt, 10*time.Second)

	code, body = s.call(t, "GET", "/api/shows/tuesday", nil, "X-API-Key", testViewerKey)
	require.Equal(t, 200, code, "%s", body)
	show := decodeAs[showroutes.View](t, body)
	assert.Equal(t, n.ID, show.Node)
	assert.False(t, show.Lost)

	code, body = s.call(t, "GET", "/api/nodes", nil, "X-API-Key", testViewerKey)
	assert.Equal(t, 403, code, "%s", body)
}
