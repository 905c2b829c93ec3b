package ogg

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Durations are counted from what each Opus packet holds, not from RTP
// timestamps: 20 ms CELT, 60 ms SILK, two 10 ms frames, a code-3 packet of
// three 20 ms frames; garbage counts nothing.
func TestOpusSamplesAreReadFromTheTOC(t *testing.T) {
	for _, c := range []struct {
		p    []byte
		want int
	}{
		{[]byte{31 << 3}, 960},       // CELT FB 20 ms
		{[]byte{3 << 3}, 2880},       // SILK NB 60 ms
		{[]byte{14<<3 | 1}, 960},     // hybrid 10 ms, two frames
		{[]byte{31<<3 | 3, 3}, 2880}, // three 20 ms frames
		{[]byte{31<<3 | 3, 7}, 0},    // 140 ms: more than a packet may hold
		{[]byte{31<<3 | 3}, 0},       // code 3 without its count
		{nil, 0},
	} {
		assert.Equal(t, c.want, OpusSamples(c.p), "%x", c.p)
	}
}

// A page built is a page read back, lacing and all (a packet of exactly 255
// bytes ends with a zero), and any byte changed or cut makes it no page.
func TestAPageReadsBackOnlyWhole(t *testing.T) {
	long := append([]byte{31 << 3}, make([]byte, 599)...)    // 600 bytes: 255, 255, 90
	exact := append([]byte{31<<3 | 1}, make([]byte, 254)...) // 255 bytes: 255, 0
	b, err := Build(EOS, 4242, 7, 3, long, exact)
	if !assert.NoError(t, err) {
		return
	}
	pg, ok := Parse(b)
	assert.True(t, ok)
	assert.Equal(t, []byte{255, 255, 90, 255, 0}, pg.Lacing)
	assert.Equal(t, Page{Flags: EOS, Granule: 4242, Serial: 7, Seq: 3, Lacing: pg.Lacing, Body: pg.Body, Size: len(b)}, pg)
	assert.Equal(t, int64(960+2*960), pg.Samples(), "a 20 ms packet and two 20 ms frames")

	for i := range b {
		bad := append([]byte(nil), b...)
		bad[i] ^= 0x40
		if _, ok := Parse(bad); ok {
			t.Fatalf("a page with byte %d changed was read", i)
		}
	}
	_, ok = Parse(b[:len(b)-1])
	assert.False(t, ok, "a torn page")
	_, err = Build(0, 0, 1, 1, make([]byte, 255*255))
	assert.Error(t, err, "more than 255 lacing values")
}
