package rehearsal

import (
	"sync/atomic"
	"time"
)

// counter is one listener's packet accounting, from RTP headers alone. The
// listener's reader writes it; the rehearsal reads it through the atomics.
type counter struct {
	received atomic.Int64
	highest  atomic.Int64 // the extended highest sequence number seen; valid once first != 0
	base     atomic.Int64 // the extended sequence number of the first packet
	jitter   atomic.Int64 // RFC 3550's J in timestamp units, times 16 (its integer form)
	peak     atomic.Int64 // the highest jitter since the sampler last took it, same units
	first    atomic.Int64 // nanoseconds since the rehearsal's epoch of the first packet; 0 none

	// The reader's own state.
	clock      int64 // RTP clock rate, Hz
	cycles     int64
	maxSeq     uint16
	lastTS     uint32
	lastArrive int64 // ns
}

// packet accounts for one RTP packet (hdr is at least its 12-byte fixed
// header) that arrived at ns nanoseconds since the epoch.
func (c *counter) packet(hdr []byte, ns int64) {
	seq := uint16(hdr[2])<<8 | uint16(hdr[3])
	ts := uint32(hdr[4])<<24 | uint32(hdr[5])<<16 | uint32(hdr[6])<<8 | uint32(hdr[7])
	c.received.Add(1)
	if c.first.Load() == 0 {
		if ns == 0 {
			ns = 1
		}
		c.maxSeq, c.lastTS, c.lastArrive = seq, ts, ns
		c.base.Store(int64(seq))
		c.highest.Store(int64(seq))
		c.first.Store(ns)
		return
	}
	// Sequence numbers wrap at 2^16: a small step forward past the top is a
	// new cycle (RFC 3550, A.1, without its probation).
	if delta := seq - c.maxSeq; delta != 0 && delta < 1<<15 {
		if seq < c.maxSeq {
			c.cycles += 1 << 16
		}
		c.maxSeq = seq
		c.highest.Store(c.cycles + int64(seq))
	}
	// D(i-1,i) = (Rj - Ri) - (Sj - Si) in timestamp units; J += (|D| - J)/16.
	arrived := (ns - c.lastArrive) * c.clock / int64(time.Second)
	sent := int64(int32(ts - c.lastTS))
	d := arrived - sent
	if d < 0 {
		d = -d
	}
	j := c.jitter.Load()
	j += d - (j+8)>>4
	c.jitter.Store(j)
	if j > c.peak.Load() { // only the sampler lowers it: a lost race costs one sample
		c.peak.Store(j)
	}
	c.lastTS, c.lastArrive = ts, ns
}

// Jitter is the current interarrival jitter.
func (c *counter) Jitter() time.Duration { return c.duration(c.jitter.Load()) }

// Peak is the highest jitter since the last call, which starts the next
// interval at the current jitter. A stall followed by a burst lifts J for a
// few packets only, which arrive within a millisecond: sampled as it is now,
// J would miss it.
func (c *counter) Peak() time.Duration { return c.duration(c.peak.Swap(c.jitter.Load())) }

func (c *counter) duration(j int64) time.Duration {
	if c.first.Load() == 0 { // clock is set before the first packet
		return 0
	}
	return time.Duration((j >> 4) * int64(time.Second) / c.clock)
}

// mark is a counter's state when a window opens.
type mark struct {
	received, highest int64
	heard             bool
}

func (c *counter) mark() mark {
	if c.first.Load() == 0 {
		return mark{}
	}
	return mark{received: c.received.Load(), highest: c.highest.Load(), heard: true}
}

// since returns the packets expected and received since m. A listener that
// heard nothing expected one packet per frame of the window; one that heard
// its first packet within the window expected from that packet on.
func (c *counter) since(m mark, window time.Duration) (expected, received int64) {
	if c.first.Load() == 0 {
		return int64(window / Frame), 0
	}
	received = c.received.Load() - m.received
	if m.heard {
		expected = c.highest.Load() - m.highest
	} else {
		expected = c.highest.Load() - c.base.Load() + 1
	}
	return expected, received
}
