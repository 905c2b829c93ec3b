package api

import (
	"hash/maphash"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// maxClients bounds the limiter's table, whatever number of addresses clients
// come from: about 100,000 buckets of some 60 bytes each.
const maxClients = 100_000

// limiterShards split the table so that concurrent requests rarely wait for
// each other, and so that any upkeep touches one shard only.
const limiterShards = 64

// evictSample is how many buckets a full shard looks at for one it can drop.
const evictSample = 8

// Limiter is a token bucket per client: per IPv4 address, per IPv6 /64 (one
// host usually holds a whole /64, so per-address buckets would be free for the
// taking). The table is capped: a full shard drops a bucket only if it has
// refilled (forgetting it changes nothing), else new clients share the shard's
// overflow bucket. A flood of new addresses therefore can neither grow memory
// nor hand an existing, rate-limited client a fresh bucket.
type Limiter struct {
	rate     float64 // tokens per second
	burst    float64
	perShard int
	seed     maphash.Seed
	shards   [limiterShards]limiterShard
}

type limiterShard struct {
	mu       sync.Mutex
	clients  map[[16]byte]*bucket // by limitKey, as 16 bytes (cheaper to hash than netip.Addr)
	overflow bucket
	swept    time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func NewLimiter(perSecond float64, burst int) *Limiter {
	l := &Limiter{rate: perSecond, burst: float64(burst), perShard: maxClients / limiterShards, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].clients = map[[16]byte]*bucket{}
		l.shards[i].overflow = bucket{tokens: l.burst}
	}
	return l
}

// limitKey is the bucket an address draws from.
func limitKey(ip netip.Addr) netip.Addr {
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		return netip.PrefixFrom(ip, 64).Masked().Addr()
	}
	return ip
}

// Allow takes a token from the bucket of ip (the zero Addr: one shared bucket
// for peers without an IP address).
func (l *Limiter) Allow(ip netip.Addr) bool {
	key := limitKey(ip).As16()
	sh := l.shard(key)
	now := time.Now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if now.Sub(sh.swept) > time.Minute { // upkeep of this shard only, bounded by its cap
		sh.sweep(l, now)
	}
	b := sh.clients[key]
	if b == nil {
		if len(sh.clients) >= l.perShard && !sh.evict(l, now) {
			return l.take(&sh.overflow, now)
		}
		b = &bucket{tokens: l.burst, last: now}
		sh.clients[key] = b
	}
	return l.take(b, now)
}

// shard picks key's shard with a seeded hash, so that nobody can aim a flood of
// addresses at one shard.
func (l *Limiter) shard(key [16]byte) *limiterShard {
	return &l.shards[maphash.Bytes(l.seed, key[:])%limiterShards]
}

func (l *Limiter) take(b *bucket, now time.Time) bool {
	l.refill(b, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (l *Limiter) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(l.burst, b.tokens+d.Seconds()*l.rate)
		b.last = now
	}
}

// evict drops one refilled bucket among a few (map order is random), and
// reports whether it found one.
func (sh *limiterShard) evict(l *Limiter, now time.Time) bool {
	n := 0
	for k, b := range sh.clients {
		if l.refill(b, now); b.tokens >= l.burst {
			delete(sh.clients, k)
			return true
		}
		if n++; n >= evictSample {
			break
		}
	}
	return false
}

// sweep forgets every refilled bucket: a client idle that long would get a full
// bucket anyway.
func (sh *limiterShard) sweep(l *Limiter, now time.Time) {
	for k, b := range sh.clients {
		if l.refill(b, now); b.tokens >= l.burst {
			delete(sh.clients, k)
		}
	}
	sh.swept = now
}

// size is the number of buckets in the table.
func (l *Limiter) size() int {
	n := 0
	for i := range l.shards {
		l.shards[i].mu.Lock()
		n += len(l.shards[i].clients)
		l.shards[i].mu.Unlock()
	}
	return n
}

// capacity is the most buckets the table holds.
func (l *Limiter) capacity() int { return l.perShard * limiterShards }

// ClientAddr is who to rate-limit: the peer, or, when the peer is a trusted proxy
// that proved itself with the proxy secret, the right-most X-Forwarded-For entry
// that is not one of our proxies. An address alone is no proof (with host
// networking any local process has it), so without the secret X-Forwarded-For is
// ignored and nobody can choose their own bucket. It is the zero Addr when the
// peer has no IP address.
func ClientAddr(prefixes []netip.Prefix, fromProxy func(*http.Request) bool, r *http.Request) netip.Addr {
	ip, ok := AddrOf(r.RemoteAddr)
	if !ok {
		return netip.Addr{}
	}
	if !fromProxy(r) {
		return ip
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, ok := AddrOf(strings.TrimSpace(hops[i]))
		if !ok {
			break
		}
		if !slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(hop) }) {
			return hop
		}
	}
	return ip
}
