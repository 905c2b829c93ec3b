package rehearsal

import (
	"context"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// performer sends the show's profile into a test room: stereo Opus at the
// show's bitrate, DTX off, one 20 ms frame every 20 ms. It needs no encoder:
// nobody decodes what the SFU forwards, so one frame of the right size,
// sent again and again, loads LiveKit as the music would.
type performer struct {
	room *lksdk.Room
	stop chan struct{}
	done chan struct{}
}

// opusFrame is a 20 ms stereo Opus frame of bitrate's size: a TOC byte for
// CELT fullband, 20 ms, stereo, one frame (RFC 6716, 3.1: config 31, s=1,
// c=0), then payload bytes that vary, as coded music does.
func opusFrame(bitrate int) []byte {
	n := bitrate * int(Frame/time.Millisecond) / 8000
	f := make([]byte, n)
	f[0] = 31<<3 | 1<<2
	x := uint32(2463534242)
	for i := 1; i < n; i++ { // xorshift: deterministic, not silence
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		f[i] = byte(x)
	}
	return f
}

// startPerformer joins with jwt and publishes the profile until stop.
func startPerformer(ctx context.Context, url, jwt string, bitrate int) (*performer, error) {
	rm, err := connect(ctx, url, jwt, &lksdk.RoomCallback{})
	if err != nil {
		return nil, err
	}
	track, err := lksdk.NewLocalSampleTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2})
	if err == nil {
		_, err = rm.LocalParticipant.PublishTrack(track, &lksdk.TrackPublicationOptions{
			Name: "rehearsal", Source: livekit.TrackSource_MICROPHONE, Stereo: true, DisableDTX: true})
	}
	if err != nil {
		rm.Disconnect()
		return nil, err
	}
	p := &performer{room: rm, stop: make(chan struct{}), done: make(chan struct{})}
	go p.send(track, opusFrame(bitrate))
	return p, nil
}

func (p *performer) send(track *lksdk.LocalTrack, frame []byte) {
	defer close(p.done)
	tick := time.NewTicker(Frame)
	defer tick.Stop()
	s := media.Sample{Data: frame, Duration: Frame}
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
			_ = track.WriteSample(s, nil) // a frame the SFU does not take is the loss we measure
		}
	}
}

func (p *performer) leave() {
	close(p.stop)
	<-p.done
	p.room.Disconnect()
}
