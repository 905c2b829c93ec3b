package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/showroutes"
	"github.com/spacemusic/streamkit/internal/testenv"
)

// The operator opens a show and asks which LiveKit node carries it: the node
// view (LiveKit's own Redis) lists the one node, alive, hosting one room and
// the show; the show itself names its node and is not lost. A viewer may not
// look at the nodes.
func TestTheNodesShowTheirLoadAndTheirShows(t *testing.T) {
	s := newStage(t, nil)
	code, body := s.call(t, "POST", "/api/shows", map[string]any{"name": "tuesday"}, "X-API-Key", testOperatorKey)
	require.Equal(t, 201, code, "%s", body)

	var nodes []nodeView
	require.True(t, poll(t, 10*time.Second, "the node never reported the show's room", func() (bool, string) {
		code, body := s.call(t, "GET", "/api/nodes", nil, "X-API-Key", testOperatorKey)
		nodes = nil
		_ = json.Unmarshal(body, &nodes)
		return code == 200 && len(nodes) == 1 && nodes[0].Rooms == 1, string(body)
	}))
	n := nodes[0]
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

// A Redis that does not answer is a 503 with a stable code that names neither
// its address nor its password.
func TestNodesOfAnUnreachableRedisSayNothingOfIt(t *testing.T) {
	port := testenv.FreePort(t)
	url := fmt.Sprintf("redis://:hunter2-secret@127.0.0.1:%d/0", port)
	n := nodesAt(url)
	t.Cleanup(func() { _ = n.(redisNodes).rdb.Close() })
	_, err := n.Read(context.Background(), []string{"a"})
	require.Error(t, err)
	var e *api.Error
	require.ErrorAs(t, nodesUnavailable(err), &e)
	assert.Equal(t, 503, e.Status)
	assert.Equal(t, "nodes_unavailable", e.Code)
	assert.NotContains(t, e.Message, "hunter2")
	assert.NotContains(t, e.Message, fmt.Sprint(port))
	assert.Nil(t, nodesAt(""), "no REDIS_URL: no node view (501)")
}
