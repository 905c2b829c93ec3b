package api

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// nthAddr is the n-th of many distinct client addresses: IPv4, or IPv6 in
// distinct /64s.
func nthAddr(n int, v6 bool) netip.Addr {
	if v6 {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n), 15: 1})
	}
	return netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
}

// One host holds a whole IPv6 /64: its addresses share a bucket, while other
// /64s, IPv4 addresses and their IPv4-mapped IPv6 forms are keyed as expected.
func TestLimiterKeysIPv6ByPrefix(t *testing.T) {
	l := NewLimiter(0.001, 2) // two requests, then nothing for the length of the test
	assert.True(t, l.Allow(ip("2001:db8:1:2::1")))
	assert.True(t, l.Allow(ip("2001:db8:1:2:ffff:ffff:ffff:fffe")))
	assert.False(t, l.Allow(ip("2001:db8:1:2::99")), "a third address of the same /64 shares the spent bucket")
	assert.True(t, l.Allow(ip("2001:db8:1:3::1")), "the next /64 is another client")

	assert.True(t, l.Allow(ip("192.0.2.1")))
	assert.True(t, l.Allow(ip("::ffff:192.0.2.1")), "an IPv4-mapped address is that IPv4 address")
	assert.False(t, l.Allow(ip("192.0.2.1")))
	assert.True(t, l.Allow(ip("192.0.2.2")), "IPv4 clients are keyed per address")
}

// 200,000 addresses leave the table at its cap, and a flood of them gives a
// client that has spent its burst no fresh one.
func TestLimiterTableIsCappedAndFloodsResetNobody(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		l := NewLimiter(0.001, 3)
		victim := ip("198.51.100.7")
		for range 3 {
			require.True(t, l.Allow(victim))
		}
		require.False(t, l.Allow(victim))
		for n := range 200_000 {
			l.Allow(nthAddr(n, v6))
		}
		assert.Equal(t, l.capacity(), l.size(), "v6=%v", v6)
		assert.LessOrEqual(t, l.capacity(), maxClients)
		assert.False(t, l.Allow(victim), "the flood reset the limited client's bucket (v6=%v)", v6)
	}
	// The baseline grows with every address.
	old := newGlobalLimiter(0.001, 3)
	for n := range 200_000 {
		old.allow(nthAddr(n, true).String())
	}
	t.Logf("the single-map limiter holds %d buckets after the same flood; this one at most %d", len(old.clients), maxClients)
}

// Buckets that have refilled are forgotten to make room: a table full of
// clients that come and go does not lock new clients into the overflow bucket.
func TestLimiterForgetsRefilledBuckets(t *testing.T) {
	l := NewLimiter(1e9, 2) // refills at once
	for n := range 200_000 {
		l.Allow(nthAddr(n, false))
	}
	for n := range 1000 { // each new client gets a bucket of its own, not the overflow
		a := nthAddr(1_000_000+n, true)
		assert.True(t, l.Allow(a))
		assert.True(t, l.holds(a), "client %d was put in the overflow bucket", n)
	}
	assert.LessOrEqual(t, l.size(), l.capacity())
}

// holds reports whether ip has a bucket of its own.
func (l *Limiter) holds(ip netip.Addr) bool {
	key := limitKey(ip).As16()
	sh := l.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.clients[key] != nil
}

// BenchmarkLimiterAllow compares the sharded limiter with the single-map,
// single-lock one it replaced, in the same run, every goroutine a client among
// thousands:
//
//	go test -run '^$' -bench LimiterAllow -cpu 1,2,8 ./examples/dashboard/
func BenchmarkLimiterAllow(b *testing.B) {
	addrs := make([]netip.Addr, 4096)
	keys := make([]string, len(addrs))
	for i := range addrs {
		addrs[i] = nthAddr(i, i%2 == 0)
		keys[i] = addrs[i].String()
	}
	b.Run("sharded", func(b *testing.B) {
		l := NewLimiter(1e9, 1000)
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(977))
			for pb.Next() {
				l.Allow(addrs[i%len(addrs)])
				i++
			}
		})
	})
	b.Run("one-lock", func(b *testing.B) {
		l := newGlobalLimiter(1e9, 1000)
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(977))
			for pb.Next() {
				l.allow(keys[i%len(keys)])
				i++
			}
		})
	})
}

// globalLimiter is the limiter this file's tests replaced, kept as the
// benchmark's baseline: one map under one mutex, swept under that lock.
type globalLimiter struct {
	mu      sync.Mutex
	r       rate.Limit
	burst   int
	clients map[string]*globalClient
	swept   time.Time
}

type globalClient struct {
	lim  *rate.Limiter
	seen time.Time
}

func newGlobalLimiter(perSecond float64, burst int) *globalLimiter {
	return &globalLimiter{r: rate.Limit(perSecond), burst: burst, clients: map[string]*globalClient{}}
}

func (l *globalLimiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Sub(l.swept) > time.Minute {
		for k, c := range l.clients {
			if now.Sub(c.seen) > 5*time.Minute {
				delete(l.clients, k)
			}
		}
		l.swept = now
	}
	c := l.clients[key]
	if c == nil {
		c = &globalClient{lim: rate.NewLimiter(l.r, l.burst)}
		l.clients[key] = c
	}
	c.seen = now
	return c.lim.Allow()
}
