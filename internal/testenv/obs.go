package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// PushRTMP stands in for OBS: ffmpeg sends a sine tone (and a 1080p test pattern,
// as OBS sends by default, unless audioOnly) to url for d, in real time. The
// ingress makes only the simulcast layers the source can fill, so a smaller
// pattern would hide the top ones. The push stops at d or when the test ends.
//
// The video is encoded once, before the push, and then sent as it is: encoding
// 1080p live would keep a core busy, and Ingress admits a stream only while the
// machine has idle CPU (see slot.go), so a live encode got the push refused
// ("Server error: Publish failed.") on a 2-core machine.
func PushRTMP(t TB, url string, d time.Duration, audioOnly bool) *Process {
	t.Helper()
	if audioOnly {
		return PushRTMPSound(t, url, "sine=frequency=440:sample_rate=48000", d)
	}
	bin := Binary(t, "ffmpeg", "ffmpeg")
	return pushRTMP(t, bin, url, d, "-stream_loop", "-1", "-i", obsClip(t, bin), "-t", fmt.Sprintf("%.1f", d.Seconds()), "-c", "copy")
}

// PushRTMPSound is PushRTMP with audio only, from an ffmpeg lavfi source (e.g.
// "sine=frequency=440:sample_rate=48000", or "anullsrc=r=48000" for silence),
// as AAC stereo 128 kbps.
func PushRTMPSound(t TB, url, lavfi string, d time.Duration) *Process {
	t.Helper()
	bin := Binary(t, "ffmpeg", "ffmpeg")
	return pushRTMP(t, bin, url, d, "-f", "lavfi", "-t", fmt.Sprintf("%.1f", d.Seconds()), "-i", lavfi,
		"-c:a", "aac", "-ac", "2", "-ar", "48000", "-b:a", "128k")
}

// PushRTMP720 is PushRTMP with the video a music stream sends when it records
// what the camera sees: 1280x720 at 30 fps (H.264, a key frame every 2 s) and a
// 440 Hz tone (AAC stereo 128 kbps), encoded once like the OBS clip.
func PushRTMP720(t TB, url string, d time.Duration) *Process {
	t.Helper()
	bin := Binary(t, "ffmpeg", "ffmpeg")
	clip := encoded(t, bin, "obs-720p.flv", []string{"-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc=size=1280x720:rate=30:duration=10",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=10",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-ac", "2", "-ar", "48000", "-b:a", "128k", "-f", "flv"})
	return pushRTMP(t, bin, url, d, "-stream_loop", "-1", "-i", clip, "-t", fmt.Sprintf("%.1f", d.Seconds()), "-c", "copy")
}

// pushRTMP runs ffmpeg in real time from input (its input and codecs) sending
// FLV to url.
func pushRTMP(t TB, bin, url string, d time.Duration, input ...string) *Process {
	t.Helper()
	args := append([]string{"-hide_banner", "-loglevel", "warning", "-re"}, input...)
	args = append(args, "-f", "flv", url)
	// Like OBS, reconnect when refused: ingress turns streams away while its CPU
	// monitor sees a busy machine ("server capacity exceeded"; see slot.go). Bounded
	// by d: a push that was refused for as long as it should have lasted gives up.
	retry := fmt.Sprintf(`end=$((SECONDS+%d)); until "$0" "$@"; do [ $SECONDS -lt $end ] || exit 1; sleep 1; done`, int(d.Seconds()+0.5))
	return StartProcess(t, "ffmpeg-rtmp", "/bin/bash", append([]string{"-c", retry, bin}, args...))
}

// obsClip encodes what OBS sends, once (see encoded): 10 s of a 1080p test
// pattern at 15 fps (H.264, a key frame every 2 s) and a 440 Hz tone (AAC stereo
// 128 kbps), which PushRTMP loops.
func obsClip(t TB, ffmpeg string) string {
	t.Helper()
	return encoded(t, ffmpeg, "obs-1080p.flv", []string{"-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc=size=1920x1080:rate=15:duration=10",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=10",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-ac", "2", "-ar", "48000", "-b:a", "128k", "-f", "flv"})
}

// MediaFile writes a stereo media file of length d (Ogg, or AAC in MP4/M4A, or an
// HLS playlist, by extension) and serves it from a loopback HTTP server at twice
// real time, as a web server far away would; it returns the file's URL.
//
// The pace matters: LiveKit Ingress drops what it decodes until its WebRTC track
// is connected (about a second), and nothing else paces a file. Served at
// loopback speed, a 30 s set is decoded and at EOS in some 50 ms, before the
// track exists, and the pull ends having published nothing.
func MediaFile(t TB, name string, d time.Duration) string {
	t.Helper()
	bin := Binary(t, "ffmpeg", "ffmpeg")
	dir := t.TempDir()
	out := filepath.Join(dir, name)
	args := []string{"-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
		fmt.Sprintf("sine=frequency=330:sample_rate=48000:duration=%.1f", d.Seconds()), "-ac", "2"}
	switch filepath.Ext(name) {
	case ".m3u8": // an HLS playlist with MPEG-TS segments
		args = append(args, "-c:a", "aac", "-f", "hls", "-hls_time", "2", "-hls_list_size", "0", "-hls_playlist_type", "vod")
	case ".m4a", ".mp4": // AAC, index first, as files meant for the web are
		args = append(args, "-c:a", "aac", "-movflags", "+faststart")
	}
	cmd := exec.Command(bin, append(args, out)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: ffmpeg media file: %v\n%s", err, b)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: listen: %v", err)
	}
	var size int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if info, err := e.Info(); err == nil {
			size += info.Size()
		}
	}
	perSecond := max(1, float64(size)/(d.Seconds()/2))
	files := http.FileServer(http.Dir(dir))
	paced := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		files.ServeHTTP(&pacedWriter{ResponseWriter: w, perSecond: perSecond, start: time.Now()}, r)
	})
	srv := &http.Server{Handler: paced, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/" + name
}

// pacedWriter writes at most perSecond bytes a second, in 4 KiB steps.
type pacedWriter struct {
	http.ResponseWriter
	perSecond float64
	start     time.Time
	sent      int
}

func (p *pacedWriter) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		n := min(len(b), 4096)
		m, err := p.ResponseWriter.Write(b[:n])
		written += m
		p.sent += m
		if err != nil {
			return written, err
		}
		b = b[n:]
		if ahead := time.Duration(float64(p.sent)/p.perSecond*float64(time.Second)) - time.Since(p.start); ahead > 0 {
			time.Sleep(ahead)
		}
	}
	return written, nil
}

// PublishWHIP stands in for OBS 30+ or a browser: it offers an Opus track to a WHIP
// endpoint and streams the .ogg file (from Tone) in real time. Debian's GStreamer
// has no whipsink, hence this small pion client. It stops when stop is called or
// the test ends.
func PublishWHIP(t TB, whipURL, oggFile string) (stop func()) {
	t.Helper()
	_, stop = PublishWHIPTimed(t, whipURL, oggFile)
	return stop
}

// PublishWHIPTimed is PublishWHIP, also answering when the file's first frame
// left: frame i leaves 20 ms × i later (the sender keeps to a wall-clock
// ticker), which is what a latency measurement needs.
func PublishWHIPTimed(t TB, whipURL, oggFile string) (first time.Time, stop func()) {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatalf("testenv: whip peer connection: %v", err)
	}
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "whip")
	if err != nil {
		t.Fatalf("testenv: whip track: %v", err)
	}
	if _, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatalf("testenv: whip transceiver: %v", err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatalf("testenv: whip offer: %v", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatalf("testenv: whip local description: %v", err)
	}
	<-gathered

	// The ingress answers 429 while its CPU monitor sees a busy machine; an
	// encoder retries, and so do we (for at most 30 s).
	var resp *http.Response
	var answer []byte
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err = http.Post(whipURL, "application/sdp", bytes.NewBufferString(pc.LocalDescription().SDP))
		if err != nil {
			t.Fatalf("testenv: whip POST: %v", err)
		}
		answer, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("testenv: whip POST answered %s: %s", resp.Status, answer)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		t.Fatalf("testenv: whip answer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done; pc.Close() }) }
	t.Cleanup(stop)
	started := make(chan time.Time, 1)
	go func() {
		defer close(done)
		_ = sendOgg(ctx, track, oggFile, started)
	}()
	select {
	case first = <-started:
	case <-done:
	}
	return first, stop
}

// sendOgg writes the file's Opus packets to track at their real pace.
func sendOgg(ctx context.Context, track *webrtc.TrackLocalStaticSample, file string, started chan<- time.Time) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	ogg, _, err := oggreader.NewWith(f)
	if err != nil {
		return err
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last uint64
	for {
		page, header, err := ogg.ParseNextPage()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		samples := header.GranulePosition - last
		last = header.GranulePosition
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if samples > 0 && started != nil { // the first page of sound (the header pages carry none)
			started <- time.Now()
			started = nil
		}
		if err := track.WriteSample(media.Sample{Data: page, Duration: time.Duration(samples) * time.Second / 48000}); err != nil {
			return err
		}
	}
}
