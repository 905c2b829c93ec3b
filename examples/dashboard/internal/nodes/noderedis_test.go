package nodes

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A Redis that does not answer is a 503 with a stable code that names neither
// its address nor its password.
func TestNodesOfAnUnreachableRedisSayNothingOfIt(t *testing.T) {
	port := testenv.FreePort(t)
	url := fmt.Sprintf("redis://:hunter2-secret@127.0.0.1:%d/0", port)
	n := At(url)
	t.Cleanup(func() { _ = n.(io.Closer).Close() })
	_, err := n.Read(context.Background(), []string{"a"})
	require.Error(t, err)
	var e *api.Error
	require.ErrorAs(t, nodesUnavailable(err), &e)
	assert.Equal(t, 503, e.Status)
	assert.Equal(t, "nodes_unavailable", e.Code)
	assert.NotContains(t, e.Message, "hunter2")
	assert.NotContains(t, e.Message, fmt.Sprint(port))
	assert.Nil(t, At(""), "no REDIS_URL: no node view (501)")
}
