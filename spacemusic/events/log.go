package events

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spacemusic/streamkit/spacemusic/errs"
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

// Bounds of a Redis log by default: anyone holding a listener token can make
// events (join, leave, again), so the log is capped by count and by bytes, the
// oldest events going first, whatever the retention.
const (
	DefaultMaxEvents = 100_000
	DefaultMaxBytes  = 64 << 20
	// DefaultDedupe is how long an appended event's key is remembered to refuse
	// its duplicate: LiveKit retries a webhook within seconds to minutes, and
	// replicas' resyncs find the same correction within one resync interval.
	DefaultDedupe = time.Hour
)

// RedisLog is a Log in a Redis stream: entry IDs are "<revision>-0", revisions
// come from one counter, the keys of appended events are remembered (in one
// capped sorted set) so duplicates are refused across replicas, and each room's
// revisions are indexed so its story is read without scanning the log.
type RedisLog struct {
	rdb       redis.UniversalClient
	stream    string
	retention time.Duration
	limits    logLimits
}

type logLimits struct {
	events, bytes int64
	dedupe        time.Duration
}

// LogOption tunes a RedisLog.
type LogOption func(*logLimits)

// WithMaxEvents caps the events the log keeps (DefaultMaxEvents when n <= 0);
// the dedupe keys and the room index are capped with it.
func WithMaxEvents(n int64) LogOption { return func(l *logLimits) { l.events = n } }

// WithMaxBytes caps the bytes the log's stream takes in Redis, as MEMORY USAGE
// counts them (DefaultMaxBytes when n <= 0).
func WithMaxBytes(n int64) LogOption { return func(l *logLimits) { l.bytes = n } }

// WithDedupe sets how long keys are remembered to refuse duplicates
// (DefaultDedupe when d <= 0).
func WithDedupe(d time.Duration) LogOption { return func(l *logLimits) { l.dedupe = d } }

// NewRedisLog keeps the timeline in stream (and stream+":rev", stream+":keys",
// stream+":rooms", stream+":room:*") on rdb, for retention (DefaultRetention
// when 0) and within the bounds of opts. LiveKit's own Redis is the natural one.
func NewRedisLog(rdb redis.UniversalClient, stream string, retention time.Duration, opts ...LogOption) *RedisLog {
	if retention <= 0 {
		retention = DefaultRetention
	}
	lim := logLimits{}
	for _, o := range opts {
		o(&lim)
	}
	if lim.events <= 0 {
		lim.events = DefaultMaxEvents
	}
	if lim.bytes <= 0 {
		lim.bytes = DefaultMaxBytes
	}
	if lim.dedupe <= 0 {
		lim.dedupe = DefaultDedupe
	}
	return &RedisLog{rdb: rdb, stream: stream, retention: retention, limits: lim}
}

// appendScript makes "seen this key? if not, next revision, add, trim to the
// bounds, index by room" one atomic step. Every step is bounded: the sets and
// the stream are trimmed as they grow, and at most 16 forgotten rooms are
// dropped per append.
var appendScript = redis.NewScript(`
local now, dedupe, max, maxBytes = tonumber(ARGV[4]), tonumber(ARGV[3]), tonumber(ARGV[5]), tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. (now - dedupe))
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[3], now, ARGV[1])
local seen = redis.call('ZCARD', KEYS[3])
if seen > max then redis.call('ZREMRANGEBYRANK', KEYS[3], 0, seen - max - 1) end
local rev = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], 'MAXLEN', max, rev .. '-0', 'e', ARGV[2], 't', ARGV[4])
local used = redis.call('MEMORY', 'USAGE', KEYS[1])
if used and used > maxBytes then
  local len = redis.call('XLEN', KEYS[1])
  redis.call('XTRIM', KEYS[1], 'MAXLEN', math.floor(len * maxBytes * 0.9 / used))
end
if ARGV[7] == '' then return rev end
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local oldest = rev
if first[1] then oldest = tonumber(string.match(first[1][1], '^(%d+)')) end
redis.call('ZADD', KEYS[4], rev, rev)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. oldest)
redis.call('PEXPIRE', KEYS[4], ARGV[8])
redis.call('ZADD', KEYS[5], rev, ARGV[7])
for _, room in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', '(' .. oldest, 'LIMIT', 0, 16)) do
  redis.call('DEL', KEYS[6] .. room)
  redis.call('ZREM', KEYS[5], room)
end
return rev
`)

func (l *RedisLog) Append(ctx context.Context, key string, e Event) (uint64, bool, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return 0, false, errs.Invalid("events.Append", "%v", err)
	}
	res, err := appendScript.Run(ctx, l.rdb,
		[]string{l.stream, l.stream + ":rev", l.stream + ":keys", l.roomKey(e.Room), l.stream + ":rooms", l.stream + ":room:"},
		key, b, l.limits.dedupe.Milliseconds(), time.Now().UnixMilli(), l.limits.events, l.limits.bytes, e.Room, l.retention.Milliseconds()).Int64()
	if err != nil {
		return 0, false, redisErr("events.Append", err)
	}
	return uint64(res), res > 0, nil
}

func (l *RedisLog) roomKey(room string) string { return l.stream + ":room:" + room }

// ReadRoom returns up to limit of room's newest events before revision before
// (the newest when 0), oldest first, and whether older ones are kept: one read
// of the room's index and one of its events, however long the log.
func (l *RedisLog) ReadRoom(ctx context.Context, room string, before uint64, limit int) ([]Event, bool, error) {
	max := "+inf"
	if before > 0 {
		max = "(" + strconv.FormatUint(before, 10)
	}
	revs, err := l.rdb.ZRevRangeByScore(ctx, l.roomKey(room), &redis.ZRangeBy{Min: "-inf", Max: max, Count: int64(limit) + 1}).Result()
	if err != nil {
		return nil, false, redisErr("events.ReadRoom", err)
	}
	more := len(revs) > limit
	if more {
		revs = revs[:limit]
	}
	if len(revs) == 0 {
		return nil, false, nil
	}
	pipe := l.rdb.Pipeline()
	reads := make([]*redis.XMessageSliceCmd, len(revs))
	for i := range revs {
		id := revs[len(revs)-1-i] + "-0" // oldest first
		reads[i] = pipe.XRange(ctx, l.stream, id, id)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, false, redisErr("events.ReadRoom", err)
	}
	out := make([]Event, 0, len(revs))
	for _, rd := range reads {
		for _, m := range rd.Val() { // none when the event was trimmed since
			var e Event
			if json.Unmarshal([]byte(str(m.Values["e"])), &e) != nil {
				continue
			}
			e.Revision = revOf(m.ID)
			out = append(out, e)
		}
	}
	return out, more, nil
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
