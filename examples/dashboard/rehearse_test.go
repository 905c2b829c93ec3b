package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/rehearsals"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/shows"
)

// A bad command line is a usage error (exit 2) before anything is dialled.
func TestRehearseRefusesABadCommandLine(t *testing.T) {
	for _, args := range [][]string{
		{}, {"-max", "5"}, {"-show", "gig"}, {"-show", "gig", "-max", "0"}, {"-show", "gig", "-max", "1001"},
		{"-show", "gig", "-max", "5", "-step", "-1"}, {"-show", "gig", "-max", "5", "-hold", "10m"},
		{"-show", "gig", "-max", "5", "-hold", "soon"}, {"-show", "gig", "-max", "5", "stray"}, {"-nope"},
	} {
		err := run(context.Background(), append([]string{"dashboard", "rehearse"}, args...), withAdminGroup, &strings.Builder{})
		var usage usageError
		assert.ErrorAs(t, err, &usage, "%v", args)
	}
	f, err := parseRehearse([]string{"-show", "gig", "-max", "60"}, &strings.Builder{})
	require.NoError(t, err)
	assert.Equal(t, []int{10, 25, 50, 60}, f.steps(), "the default ladder below -max")
	f.step = 2
	f.max = 5
	assert.Equal(t, []int{2, 4, 5}, f.steps())
}

// An admin rehearses tonight's show from a shell: two steps of two and four
// listeners, a table line per step and the capacity; with -want above it the
// command fails (exit 1), and -json prints the result as the API answers it.
// A show that is not there fails saying so.
func TestAnAdminRehearsesFromTheCommandLine(t *testing.T) {
	testenv.RequireNetNS(t)
	testenv.HoldMediaSlot(t)
	env := testenv.LiveKit(t)
	vars := map[string]string{"LIVEKIT_URL": env.URL, "LIVEKIT_API_KEY": env.APIKey, "LIVEKIT_API_SECRET": env.APISecret,
		"DASHBOARD_ADMIN_GROUP": adminGroup, "DASHBOARD_LIVEKIT_METRICS_URL": env.MetricsURL}
	getenv := func(k string) string { return vars[k] }
	sm, err := spacemusic.New(spacemusic.ConfigFromGetenv(getenv))
	require.NoError(t, err)
	svc, err := showsOn(sm, nil, "", nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = svc.Open(ctx, shows.Spec{Name: "gig"})
	require.NoError(t, err)
	rehearse := func(args ...string) (string, error) {
		out := &strings.Builder{}
		err := run(ctx, append([]string{"dashboard", "rehearse", "-show", "gig", "-max", "4", "-step", "2", "-hold", "1s"}, args...), getenv, out)
		return out.String(), err
	}

	out, err := rehearse("-want", "4")
	t.Logf("dashboard rehearse:\n%s", out)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, "a header, a line per step, the capacity")
	assert.Contains(t, lines[0], "jitter p50/p95 ms")
	for i, n := range []string{"2", "4"} {
		assert.Equal(t, n, strings.Fields(lines[1+i])[0])
		assert.True(t, strings.HasSuffix(lines[1+i], "ok"), lines[1+i])
	}
	assert.Equal(t, "capacity: 4 listeners", lines[3])

	out, err = rehearse("-json", "-want", "5")
	require.Error(t, err, "the capacity is below -want")
	var usage usageError
	assert.NotErrorAs(t, err, &usage, "not a usage error: exit 1")
	assert.Contains(t, err.Error(), "below -want 5")
	var v rehearsals.View
	require.NoError(t, json.Unmarshal([]byte(out), &v), out)
	assert.Equal(t, 4, v.Capacity)
	require.Len(t, v.Steps, 2)
	assert.Positive(t, v.Steps[1].Received)

	err = run(ctx, []string{"dashboard", "rehearse", "-show", "no-such-show", "-max", "1"}, getenv, &strings.Builder{})
	require.Error(t, err)
	assert.NotErrorAs(t, err, &usage)
}
