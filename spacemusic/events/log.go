package events

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spacemusic/streamkit/spacemusic/internal/errs"
)

// Log is a timeline several Watches share, so that dashboard replicas show one
// ordered story and a restart loses none of it. Every change goes through it:
// a Watch appends what it learns (a webhook, a resync's correction, its caller's
// own write) and applies what it reads back, in the log's order.
type Log interface {
	// Append adds e as the next revision unless an event with the same key was
	// appended before (a webhook LiveKit sent twice, or to two replicas, or a
	// correction two replicas' resyncs both found): then added is false.
	Append(ctx context.Context, key string, e Event) (rev uint64, added bool, err error)
	// Read returns up to limit events after revision after, waiting up to wait
	// for the first. ErrGone when the events after after have expired.
	Read(ctx context.Context, after uint64, limit int, wait time.Duration) ([]Event, error)
	// Head is the newest revision (0 for an empty log).
	Head(ctx context.Context) (uint64, error)
}

// DefaultRetention is how long a Redis log keeps events: like recordings, 30 days.
const DefaultRetention = 30 * 24 * time.Hour

// RedisLog is a Log in a Redis stream: entry IDs are "<revision>-0", revisions
// come from one counter, and keys of appended events are remembered for the
// retention so duplicates are refused across replicas.
type RedisLog struct {
	rdb       redis.UniversalClient
	stream    string
	retention time.Duration
}

// NewRedisLog keeps the timeline in stream (and stream+":rev", stream+":key:*")
// on rdb, for retention (DefaultRetention when 0). LiveKit's own Redis is the
// natural one.
func NewRedisLog(rdb redis.UniversalClient, stream string, retention time.Duration) *RedisLog {
	if retention <= 0 {
		retention = DefaultRetention
	}
	return &RedisLog{rdb: rdb, stream: stream, retention: retention}
}

// appendScript makes "seen this key? if not, next revision, add" one atomic step.
var appendScript = redis.NewScript(`
if not redis.call('SET', KEYS[3] .. ARGV[1], '1', 'NX', 'PX', ARGV[3]) then return 0 end
local rev = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], rev .. '-0', 'e', ARGV[2], 't', ARGV[4])
return rev
`)

func (l *RedisLog) Append(ctx context.Context, key string, e Event) (uint64, bool, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return 0, false, errs.Invalid("events.Append", "%v", err)
	}
	res, err := appendScript.Run(ctx, l.rdb, []string{l.stream, l.stream + ":rev", l.stream + ":key:"},
		key, b, l.retention.Milliseconds(), time.Now().UnixMilli()).Int64()
	if err != nil {
		return 0, false, redisErr("events.Append", err)
	}
	return uint64(res), res > 0, nil
}

func (l *RedisLog) Read(ctx context.Context, after uint64, limit int, wait time.Duration) ([]Event, error) {
	if after > 0 {
		// The entry at after must still be there, or what followed it may be gone.
		first, err := l.rdb.XRangeN(ctx, l.stream, "-", "+", 1).Result()
		if err != nil {
			return nil, redisErr("events.Read", err)
		}
		if len(first) > 0 && revOf(first[0].ID) > after+1 {
			return nil, ErrGone
		}
	}
	if wait <= 0 {
		wait = -1 // go-redis: no BLOCK at all (0 would block forever)
	}
	res, err := l.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{l.stream, strconv.FormatUint(after, 10) + "-0"}, Count: int64(limit), Block: wait}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil // nothing new within wait
	}
	if err != nil {
		return nil, redisErr("events.Read", err)
	}
	var out []Event
	for _, s := range res {
		for _, m := range s.Messages {
			var e Event
			raw, _ := m.Values["e"].(string)
			if json.Unmarshal([]byte(raw), &e) != nil {
				continue // not ours: skip rather than stop the timeline
			}
			e.Revision = revOf(m.ID)
			out = append(out, e)
		}
	}
	return out, nil
}

func (l *RedisLog) Head(ctx context.Context) (uint64, error) {
	n, err := l.rdb.Get(ctx, l.stream+":rev").Uint64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, redisErr("events.Head", err)
	}
	return n, nil
}

// Trim drops the events older than the retention. A Watch calls it at every
// resync.
func (l *RedisLog) Trim(ctx context.Context) error {
	const batch = 256
	cutoff := time.Now().Add(-l.retention).UnixMilli()
	for range 64 { // bounded: 64 batches per call
		old, err := l.rdb.XRangeN(ctx, l.stream, "-", "+", batch).Result()
		if err != nil || len(old) == 0 {
			return redisErr("events.Trim", err)
		}
		young := -1
		for i, m := range old {
			if t, _ := strconv.ParseInt(str(m.Values["t"]), 10, 64); t >= cutoff {
				young = i
				break
			}
		}
		keep := strconv.FormatUint(revOf(old[len(old)-1].ID)+1, 10) + "-0" // the whole batch is old
		if young >= 0 {
			keep = old[young].ID
		}
		if err := l.rdb.XTrimMinID(ctx, l.stream, keep).Err(); err != nil {
			return redisErr("events.Trim", err)
		}
		if young >= 0 || len(old) < batch {
			return nil
		}
	}
	return nil
}

func str(v any) string { s, _ := v.(string); return s }

func revOf(id string) uint64 {
	n, _ := strconv.ParseUint(strings.TrimSuffix(id, "-0"), 10, 64)
	return n
}

func redisErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if t := errs.Transport(op, errs.Redis, err); t != nil {
		return t
	}
	return &errs.Error{Op: op, Kind: errs.ErrUpstream, Upstream: errs.Redis, Message: err.Error()}
}
