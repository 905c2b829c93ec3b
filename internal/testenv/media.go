package testenv

import (
	"fmt"
	"math"
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

// The loudness meter's reference signals: stereo 48 kHz Opus at 192 kbit/s,
// so that the codec hardly moves their loudness (the meter is compared with
// ffmpeg's measure of the same file: Loudness).

// SineAt is a freq Hz sine peaking at dBFS on both channels: at 1 kHz, BS.1770
// puts its loudness at dBFS LUFS (within 0.01 LU).
func SineAt(t TB, freq int, dBFS float64, d time.Duration) string {
	t.Helper()
	wave := fmt.Sprintf("%.6f*sin(2*PI*%d*t)", math.Pow(10, dBFS/20), freq)
	return reference(t, fmt.Sprintf("sine-%d-%.1f.ogg", freq, dBFS), d, "aevalsrc=exprs='%s|%s':duration=%[3]s:sample_rate=48000", wave, wave)
}

// PinkNoise is ffmpeg's pink noise, the same on both channels: one second of it
// (a fixed seed) over and over, so that any whole seconds of it have the
// file's true peak, as a meter that hears only part of it can tell.
func PinkNoise(t TB, d time.Duration) string {
	t.Helper()
	return reference(t, "pink.ogg", d, "anoisesrc=color=pink:amplitude=0.3:seed=28:duration=1:sample_rate=48000,"+
		"aloop=loop=-1:size=48000,atrim=duration=%s,pan=stereo|c0=c0|c1=c0")
}

// GatedTone is 1 kHz on both channels, 2 s at -23 dBFS then 2 s at -36 dBFS, over
// and over (after EBU Tech 3341's case 3): R128's relative gate leaves the
// quiet half out, so its integrated loudness is about -23 LUFS; ungated, -25.7.
func GatedTone(t TB, d time.Duration) string {
	t.Helper()
	wave := "if(lt(mod(t,4),2),0.070795,0.015849)*sin(2*PI*1000*t)"
	return reference(t, "gated-tone.ogg", d, "aevalsrc=exprs='%s|%s':duration=%[3]s:sample_rate=48000", wave, wave)
}

// reference encodes ffmpeg's lavfi graph (format, with the duration in seconds
// after args) for d, once (see encoded).
func reference(t TB, name string, d time.Duration, format string, args ...any) string {
	t.Helper()
	bin := Binary(t, "ffmpeg", "ffmpeg")
	lavfi := fmt.Sprintf(format, append(args, fmt.Sprintf("%.3f", d.Seconds()))...)
	return encoded(t, bin, name, []string{"-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", lavfi,
		"-c:a", "libopus", "-b:a", "192k", "-ar", "48000", "-page_duration", "20000"})
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
