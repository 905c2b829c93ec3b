package events

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The log keeps the newest events in order as it turns over, and says which
// one it let go.
func TestRingKeepsTheNewestInOrder(t *testing.T) {
	r := ring{size: 3}
	revs := func(evs []Event) []uint64 {
		out := []uint64{}
		for _, e := range evs {
			out = append(out, e.Revision)
		}
		return out
	}
	for rev := uint64(1); rev <= 3; rev++ {
		_, full := r.push(Event{Revision: rev})
		assert.False(t, full)
	}
	assert.Equal(t, []uint64{1, 2, 3}, revs(r.from(0)))
	for rev := uint64(4); rev <= 8; rev++ {
		dropped, full := r.push(Event{Revision: rev})
		assert.True(t, full)
		assert.Equal(t, rev-3, dropped.Revision, "the oldest goes")
		assert.Equal(t, []uint64{rev - 2, rev - 1, rev}, revs(r.from(0)))
	}
	assert.Equal(t, 3, r.len())
	assert.EqualValues(t, 7, r.at(1).Revision)
	assert.Equal(t, []uint64{8}, revs(r.from(2)))
	assert.Empty(t, r.from(3))
}

// BenchmarkLogTurnsOver: one event into a full log of DefaultLogSize, as the
// ring does it against the copy the log made before (its baseline, same run).
func BenchmarkLogTurnsOver(b *testing.B) {
	b.Run("ring", func(b *testing.B) {
		r := ring{size: DefaultLogSize}
		for i := range DefaultLogSize {
			r.push(Event{Revision: uint64(i)})
		}
		for i := 0; b.Loop(); i++ {
			r.push(Event{Revision: uint64(i)})
		}
	})
	b.Run("copy", func(b *testing.B) {
		log := make([]Event, 0, DefaultLogSize)
		for i := range DefaultLogSize {
			log = append(log, Event{Revision: uint64(i)})
		}
		for i := 0; b.Loop(); i++ {
			copy(log, log[1:])
			log = append(log[:len(log)-1], Event{Revision: uint64(i)})
		}
	})
}
