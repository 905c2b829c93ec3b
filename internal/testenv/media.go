package testenv

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
)

// Join connects a participant with a token and disconnects it when the test ends.
// Callers that carry media must have called RequireNetNS.
func (e *Env) Join(t TB, token string, cb *lksdk.RoomCallback) *lksdk.Room {
	t.Helper()
	if cb == nil {
		cb = &lksdk.RoomCallback{}
	}
	room, err := lksdk.ConnectToRoomWithToken(e.WSURL, token, cb, lksdk.WithAutoSubscribe(true))
	if err != nil {
		t.Fatalf("testenv: join %s: %v", e.WSURL, err)
	}
	t.Cleanup(room.Disconnect)
	return room
}

// Tone returns the path of a stereo 48 kHz Opus file of a sine tone, encoded
// once and then reused (see encoded): the caller only reads it.
func Tone(t TB, freq int, d time.Duration) string {
	t.Helper()
	bin := Binary(t, "ffmpeg", "ffmpeg")
	src := fmt.Sprintf("sine=frequency=%d:duration=%.3f:sample_rate=48000", freq, d.Seconds())
	return encoded(t, bin, fmt.Sprintf("tone-%d.ogg", freq), []string{"-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", src,
		"-ac", "2", "-c:a", "libopus", "-b:a", "128k", "-ar", "48000",
		"-page_duration", "20000"}) // one Opus packet per Ogg page, as pion's reader expects
}

// OverdrivenTone is Tone with the gain far too high: a sine at twice full
// scale on both channels, given to the Opus encoder as floats, so it decodes
// clipped at full scale (ffmpeg's libopus gives back 32767, the 16-bit top).
// A square wave at full scale does not do: Opus gives it back at 0.88 of full
// scale. Nor a mono source: ffmpeg's upmix to stereo takes 3 dB off (both
// measured with ffmpeg).
func OverdrivenTone(t TB, freq int, d time.Duration) string {
	t.Helper()
	bin := Binary(t, "ffmpeg", "ffmpeg")
	wave := fmt.Sprintf("2*sin(2*PI*%d*t)", freq)
	src := fmt.Sprintf("aevalsrc=exprs='%s|%s':duration=%.3f:sample_rate=48000", wave, wave, d.Seconds())
	return encoded(t, bin, fmt.Sprintf("overdriven-%d.ogg", freq), []string{"-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", src,
		"-c:a", "libopus", "-b:a", "128k", "-ar", "48000", "-page_duration", "20000"})
}

// MusicTrack is how a performer publishes: stereo Opus with DTX off, because DTX
// turns quiet passages of music into silence.
var MusicTrack = &lksdk.TrackPublicationOptions{Name: "mix", Source: livekit.TrackSource_MICROPHONE, Stereo: true, DisableDTX: true}

// PublishTone publishes a tone file from Tone as the participant's music track.
func PublishTone(t TB, room *lksdk.Room, file string) (*lksdk.LocalTrackPublication, error) {
	t.Helper()
	track, err := lksdk.NewLocalFileTrack(file, lksdk.ReaderTrackWithFrameDuration(20*time.Millisecond))
	if err != nil {
		t.Fatalf("testenv: open %s: %v", file, err)
	}
	return room.LocalParticipant.PublishTrack(track, MusicTrack)
}

// Listener counts the audio a participant receives, per remote track.
type Listener struct {
	packets atomic.Int64
	mu      sync.Mutex
	muted   map[string]bool // track sid -> muted as last announced
	left    atomic.Bool
}

// NewListener returns an empty Listener; pass Callback() to Join.
func NewListener() *Listener { return &Listener{muted: map[string]bool{}} }

// Callback wires the listener into a room connection.
func (l *Listener) Callback() *lksdk.RoomCallback {
	return &lksdk.RoomCallback{
		ParticipantCallback: lksdk.ParticipantCallback{
			OnTrackSubscribed: func(track *webrtc.TrackRemote, pub *lksdk.RemoteTrackPublication, _ *lksdk.RemoteParticipant) {
				if track.Kind() != webrtc.RTPCodecTypeAudio {
					return
				}
				go func() {
					for {
						if _, _, err := track.ReadRTP(); err != nil {
							return
						}
						l.packets.Add(1)
					}
				}()
			},
			OnTrackMuted:   func(pub lksdk.TrackPublication, _ lksdk.Participant) { l.setMuted(pub.SID(), true) },
			OnTrackUnmuted: func(pub lksdk.TrackPublication, _ lksdk.Participant) { l.setMuted(pub.SID(), false) },
		},
		OnDisconnected: func() { l.left.Store(true) },
	}
}

func (l *Listener) setMuted(sid string, m bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.muted[sid] = m
}

// Packets is the number of audio RTP packets received so far.
func (l *Listener) Packets() int64 { return l.packets.Load() }

// Muted reports the last mute state announced for a track, and whether any was.
func (l *Listener) Muted(sid string) (muted, known bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	muted, known = l.muted[sid]
	return
}

// Disconnected reports whether the server closed the connection.
func (l *Listener) Disconnected() bool { return l.left.Load() }
