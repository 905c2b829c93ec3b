package api

import (
	"context"
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"
)

// logJSON is slog's JSON handler with a fast path for the lines the dashboard
// writes most (the request line, one per request): a record of plain strings,
// integers, finite floats, bools and durations is written here, byte for byte
// as slog.JSONHandler writes it (TestTheLogWritesAsSlogDoes); anything else
// (escapes, times, errors, groups, handler attributes) goes to slog's own. Both
// write whole lines through one lock.
type logJSON struct {
	slow  slog.Handler
	out   *lockedWriter
	level slog.Leveler
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// NewLogHandler is the dashboard's log handler: JSON lines to w from level up.
func NewLogHandler(w io.Writer, level slog.Leveler) slog.Handler {
	if level == nil {
		level = slog.LevelInfo
	}
	out := &lockedWriter{w: w}
	return &logJSON{slow: slog.NewJSONHandler(out, &slog.HandlerOptions{Level: level}), out: out, level: level}
}

func (h *logJSON) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }
func (h *logJSON) WithAttrs(as []slog.Attr) slog.Handler        { return h.slow.WithAttrs(as) }
func (h *logJSON) WithGroup(name string) slog.Handler           { return h.slow.WithGroup(name) }

var logLines = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func (h *logJSON) Handle(ctx context.Context, r slog.Record) error {
	if r.Time.IsZero() || r.Time.Year() >= 10000 || !jsonPlainString(r.Message) {
		return h.slow.Handle(ctx, r)
	}
	bp := logLines.Get().(*[]byte)
	defer logLines.Put(bp)
	b := append((*bp)[:0], `{"time":"`...)
	b = r.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"`...)
	b = append(b, r.Level.String()...)
	b = append(b, `","msg":"`...)
	b = append(b, r.Message...)
	b = append(b, '"')
	plain := true
	r.Attrs(func(a slog.Attr) bool {
		b, plain = appendLogAttr(b, a)
		return plain
	})
	if !plain {
		return h.slow.Handle(ctx, r)
	}
	b = append(b, "}\n"...)
	*bp = b
	_, err := h.out.Write(b)
	return err
}

// appendLogAttr writes a as slog's JSON handler would, or says it cannot.
func appendLogAttr(b []byte, a slog.Attr) ([]byte, bool) {
	v := a.Value
	if a.Key == "" || !jsonPlainString(a.Key) {
		return b, false
	}
	b = append(b, ',', '"')
	b = append(b, a.Key...)
	b = append(b, '"', ':')
	switch v.Kind() {
	case slog.KindString:
		s := v.String()
		if !jsonPlainString(s) {
			return b, false
		}
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"'), true
	case slog.KindInt64:
		return strconv.AppendInt(b, v.Int64(), 10), true
	case slog.KindUint64:
		return strconv.AppendUint(b, v.Uint64(), 10), true
	case slog.KindBool:
		return strconv.AppendBool(b, v.Bool()), true
	case slog.KindDuration:
		return strconv.AppendInt(b, int64(v.Duration()), 10), true
	case slog.KindFloat64:
		// encoding/json's form (slog marshals floats with it), in its plain range.
		f := v.Float64()
		if abs := math.Abs(f); math.IsNaN(f) || math.IsInf(f, 0) || (abs != 0 && (abs < 1e-6 || abs >= 1e21)) {
			return b, false
		}
		return strconv.AppendFloat(b, f, 'f', -1, 64), true
	}
	return b, false
}

// jsonPlainString: s is written in JSON as it is (printable ASCII without a
// quote or backslash; slog, unlike encoding/json, leaves <, > and & alone).
func jsonPlainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
