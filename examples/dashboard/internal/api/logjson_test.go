package api

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The dashboard's log handler writes every record as slog's JSON handler does,
// byte for byte: the request line on its fast path, and whatever it has no
// fast path for (escapes, floats out of the plain range, times, errors, groups,
// handler attributes) through slog's own.
func TestTheLogWritesAsSlogDoes(t *testing.T) {
	at := time.Date(2026, 12, 5, 8, 44, 31, 123456789, time.FixedZone("", 3600))
	strs := []string{"", "token minted", "ada", "/api/tokens", `say "hi"`, `a\b`, "<b>&", "Ådá", "tab\there", "\u2028", string([]byte{0xff})}
	nums := []float64{0, 0.001, 1.5, 12.345, -3, 1e-7, 1e21, 123456789.25, math.NaN(), math.Inf(1)}
	values := func(r *rand.Rand) slog.Value {
		switch r.IntN(9) {
		case 0:
			return slog.Int64Value(r.Int64N(1<<40) - 1<<39)
		case 1:
			return slog.Uint64Value(r.Uint64())
		case 2:
			return slog.Float64Value(nums[r.IntN(len(nums))])
		case 3:
			return slog.BoolValue(r.IntN(2) == 0)
		case 4:
			return slog.DurationValue(time.Duration(r.Int64N(1e12)))
		case 5:
			return slog.TimeValue(at)
		case 6:
			return slog.AnyValue(errors.New("refused"))
		case 7:
			return slog.GroupValue(slog.String("a", "b"))
		}
		return slog.StringValue(strs[r.IntN(len(strs))])
	}
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 2000 {
		rec := slog.NewRecord(at, []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError, slog.LevelInfo + 2}[n%5],
			strs[r.IntN(len(strs))], 0)
		for range r.IntN(14) {
			rec.AddAttrs(slog.Attr{Key: strs[r.IntN(len(strs))], Value: values(r)})
		}
		var want, got bytes.Buffer
		require.NoError(t, slog.NewJSONHandler(&want, &slog.HandlerOptions{Level: slog.LevelDebug}).Handle(context.Background(), rec.Clone()))
		require.NoError(t, NewLogHandler(&got, slog.LevelDebug).Handle(context.Background(), rec.Clone()))
		require.Equal(t, want.String(), got.String(), "record %d", n)
	}

	// Levels and derived handlers behave as slog's.
	var out bytes.Buffer
	h := NewLogHandler(&out, slog.LevelWarn)
	assert.False(t, h.Enabled(context.Background(), slog.LevelInfo))
	assert.True(t, h.Enabled(context.Background(), slog.LevelError))
	slog.New(h).With("who", "ada").WithGroup("g").Warn("muted", "track", "TR_1")
	assert.Contains(t, out.String(), `"msg":"muted","who":"ada","g":{"track":"TR_1"}}`)
}

// The request line, as the dashboard logs it, costs less on the fast path than
// through slog's JSON handler (ratio, same run).
func BenchmarkRequestLogLine(b *testing.B) {
	attrs := []slog.Attr{slog.String("role", "listener"), slog.String("room", "bench-0001"), slog.String("identity", "bob"),
		slog.String("ttl", "10m0s"), slog.String("by", "api-key"), slog.String("auth", "api-key"), slog.String("byRole", "operator"),
		slog.String("id", "0123456789abcdef"), slog.String("method", "POST"), slog.String("path", "/api/tokens"), slog.Int("status", 201),
		slog.Float64("ms", 0.042), slog.String("client", "127.0.0.1")}
	ctx := context.Background()
	for _, c := range []struct {
		name string
		log  *slog.Logger
	}{{"slog", slog.New(slog.NewJSONHandler(discard{}, nil))}, {"dashboard", slog.New(NewLogHandler(discard{}, nil))}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.log.LogAttrs(ctx, slog.LevelInfo, "token minted", attrs...)
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
