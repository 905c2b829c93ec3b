package testenv

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Beeps are a click track for measuring delay: a quiet hum (220 Hz at -46 dBFS,
// a live room's noise floor: digital silence reaches listeners as no packets
// at all) for Lead, then N beeps (50 ms of 1 kHz at -6 dBFS). The gaps between
// beeps are Period, 1.25 and 1.5 times Period in turn, so the pattern of beeps
// heard can be matched to the pattern sent whatever the delay.
type Beeps struct {
	Lead, Period time.Duration
	N            int
	// After, when set, holds a live sender's click track (PushRTMP, Serve)
	// back until it closes, the hum playing meanwhile: its Lead then starts
	// once the path is live, however long that took.
	After <-chan struct{}
}

// hum is the noise floor's amplitude.
const hum = 0.005

// At is when beep k starts, from the start of the sound (whole 10 ms steps).
func (b Beeps) At(k int) time.Duration {
	at := b.Lead
	for j := 0; j < k; j++ {
		at += (b.Period * time.Duration(4+j%3) / 4).Truncate(10 * time.Millisecond)
	}
	return at
}

// length is the whole click track, with a period of hum after the last beep.
func (b Beeps) length() time.Duration { return b.At(b.N-1) + b.Period }

// loud reports whether the sample at time d is inside a beep.
func (b Beeps) loud(d time.Duration) bool {
	for k := 0; k < b.N; k++ {
		if at := b.At(k); d >= at && d < at+50*time.Millisecond {
			return true
		}
	}
	return false
}

// Ogg writes the click track as Opus in Ogg (for PublishWHIPTimed).
func (b Beeps) Ogg(t TB) string {
	t.Helper()
	bin := Binary(t, "ffmpeg", "ffmpeg")
	var beep []string
	for k := 0; k < b.N; k++ {
		beep = append(beep, fmt.Sprintf("between(t,%.3f,%.3f)", b.At(k).Seconds(), (b.At(k)+50*time.Millisecond).Seconds()))
	}
	expr := fmt.Sprintf("if(%s,0.5*sin(2*PI*1000*t),%g*sin(2*PI*220*t))", strings.Join(beep, "+"), hum)
	return encoded(t, bin, fmt.Sprintf("beeps-%s-%s-%d.ogg", b.Lead, b.Period, b.N), []string{"-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", fmt.Sprintf("aevalsrc=exprs='%s':s=48000:d=%.3f", expr, b.length().Seconds()),
		"-ac", "2", "-c:a", "libopus", "-b:a", "128k", "-ar", "48000", "-page_duration", "20000"})
}

// PushRTMP stands in for OBS capturing a live microphone: the click track is
// written to ffmpeg's input in real time, 10 ms at a time, as a sound card
// delivers it, and encoded (AAC) and sent to url as it comes. It answers when
// each beep's first sample was handed to the encoder, the "mouth" of a
// mouth-to-ear delay; the channel closes a Period after the last beep, and the
// hum goes on until the test ends (so the stream stays live). Like OBS, it
// reconnects when Ingress refuses the stream (a busy machine, see slot.go);
// what the "microphone" makes meanwhile is lost, as it would be.
func (b Beeps) PushRTMP(t TB, url string) <-chan time.Time {
	t.Helper()
	bin := Binary(t, "ffmpeg", "ffmpeg")
	chunks := make(chan []byte, 8)
	done := make(chan struct{})
	out := &Buffer{}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		close(done)
		wg.Wait()
		if t.Failed() {
			t.Logf("---- ffmpeg (beeps) output ----\n%s", out.String())
		}
	})
	mouths := make(chan time.Time, b.N)
	wg.Add(2)
	go func() { defer wg.Done(); encodeRTMP(bin, url, chunks, done, out) }()
	go func() { defer wg.Done(); b.microphone(chunks, done, mouths) }()
	return mouths
}

// encodeRTMP feeds chunks to ffmpeg, which sends them to url as AAC in FLV,
// starting ffmpeg again whenever it ends early, until done or chunks closes.
func encodeRTMP(bin, url string, chunks <-chan []byte, done <-chan struct{}, out *Buffer) {
	for {
		cmd := liveEncoder(bin, "-c:a", "aac", "-b:a", "128k", "-f", "flv", url)
		cmd.Stdout = out
		if finished := encode(cmd, chunks, done, out); finished {
			return
		}
		select {
		case <-done:
			return
		case <-time.After(time.Second):
		}
	}
}

// encode runs the encoder cmd on chunks until it exits (false: start it
// again) or the sound is over, or it cannot start (true).
func encode(cmd *exec.Cmd, chunks <-chan []byte, done <-chan struct{}, out *Buffer) (finished bool) {
	cmd.Stderr = out
	in, err := cmd.StdinPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		fmt.Fprintf(out, "start ffmpeg: %v\n", err)
		return true
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	finished = feedEncoder(in, chunks, done, exited)
	_ = cmd.Process.Kill()
	<-exited
	return finished
}

// liveEncoder is ffmpeg encoding the microphone's sound from its stdin, as it
// comes, with the output options args.
func liveEncoder(bin string, args ...string) *exec.Cmd {
	// No probing: by default ffmpeg reads seconds of its input before
	// it starts (measured: 13 s of the pipe held back).
	in := []string{"-hide_banner", "-loglevel", "warning", "-probesize", "32", "-analyzeduration", "0", "-fflags", "nobuffer",
		"-f", "s16le", "-ar", "48000", "-ac", "2", "-i", "pipe:0", "-flush_packets", "1"}
	return exec.Command(bin, append(in, args...)...)
}

// Serve stands in for a live internet radio stream (an Icecast mount): a
// loopback HTTP server whose one stream, Ogg Opus in 20 ms pages, is the click
// track made in real time (as PushRTMP's microphone) from the moment the
// first request for it arrives. It answers the stream's URL and when each
// beep's first sample was handed to the encoder, the mouth time; the sound
// goes on (hum) until the request or the test ends. It is served once: the
// microphone's beeps are heard once, and a second request is refused.
func (b Beeps) Serve(t TB) (url string, mouths <-chan time.Time) {
	t.Helper()
	bin := Binary(t, "ffmpeg", "ffmpeg")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: listen: %v", err)
	}
	done := make(chan struct{})
	said := make(chan time.Time, b.N)
	out := &Buffer{}
	var served atomic.Bool
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Swap(true) {
			http.Error(w, "the stream was served", http.StatusGone)
			return
		}
		w.Header().Set("Content-Type", "audio/ogg")
		cmd := liveEncoder(bin, "-c:a", "libopus", "-b:a", "128k", "-page_duration", "20000", "-f", "ogg", "pipe:1")
		cmd.Stdout = flushing{w}
		chunks, stop := make(chan []byte, 8), make(chan struct{})
		go func() {
			select {
			case <-done:
			case <-r.Context().Done():
			}
			close(stop)
		}()
		go b.microphone(chunks, stop, said)
		encode(cmd, chunks, stop, out)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		close(done) // first: the server's Close waits for the stream's handler
		srv.Close()
		if t.Failed() {
			t.Logf("---- ffmpeg (served beeps) output ----\n%s", out.String())
		}
	})
	return "http://" + ln.Addr().String() + "/beeps.ogg", said
}

// flushing sends every write to the client at once, as a live stream must.
type flushing struct{ w http.ResponseWriter }

func (f flushing) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	http.NewResponseController(f.w).Flush()
	return n, err
}

// Onsets are when the beeps start in a recording, from its start: the first
// loud sample (|x| >= 0.1) after 200 ms of quiet (|x| < 0.01), the dashboard
// monitor's rule (web/assets/monitor.js), on the file decoded to mono.
func Onsets(t TB, file string) []time.Duration {
	t.Helper()
	var out []time.Duration
	quiet := 0
	for i, x := range decode(t, file, 0, 0) {
		switch a := math.Abs(x); {
		case a >= 0.1 && quiet >= soundRate/5:
			out = append(out, time.Duration(i)*time.Second/soundRate)
			quiet = 0
		case a >= 0.1:
			quiet = 0
		case a < 0.01:
			quiet++
		}
	}
	return out
}

// feedEncoder writes chunks to in until the encoder exits (false: start it
// again) or the push is over (true).
func feedEncoder(in io.WriteCloser, chunks <-chan []byte, done, exited <-chan struct{}) bool {
	for {
		select {
		case <-done:
			return true
		case <-exited:
			return false
		case c, ok := <-chunks:
			if !ok {
				in.Close()
				<-exited
				return true
			}
			if _, err := in.Write(c); err != nil {
				return false
			}
		}
	}
}

// microphone makes the click track in real time, 10 ms a chunk, then the hum
// until done, and says on mouths when each beep's first chunk was made.
func (b Beeps) microphone(chunks chan<- []byte, done <-chan struct{}, mouths chan<- time.Time) {
	defer close(chunks)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	// The held hum repeats its first 50 ms: 11 whole cycles of 220 Hz.
	for j := 0; b.After != nil; j++ {
		select {
		case <-done:
			return
		case <-b.After:
			b.After = nil
			continue
		case <-tick.C:
		}
		select {
		case chunks <- b.chunk(time.Duration(j%5) * 10 * time.Millisecond):
		default:
		}
	}
	open := true
	for i := 0; ; i++ {
		if open && time.Duration(i)*10*time.Millisecond >= b.length() {
			close(mouths)
			open = false
		}
		at := time.Duration(i) * 10 * time.Millisecond // Lead and Period are whole 10 ms chunks
		buf := b.chunk(at)
		select {
		case <-done:
			return
		case <-tick.C:
		}
		if b.loud(at) && !b.loud(at-10*time.Millisecond) {
			mouths <- time.Now() // buffered for every beep
		}
		select {
		case chunks <- buf:
		default: // the encoder is not taking sound right now: lost
		}
	}
}

// chunk is the 10 ms of stereo s16le sound starting at at.
func (b Beeps) chunk(at time.Duration) []byte {
	const samples = 480 // 10 ms at 48 kHz
	buf := make([]byte, samples*4)
	for s := 0; s < samples; s++ {
		d := at + time.Duration(s)*time.Second/48000
		v := int16(hum * math.MaxInt16 * math.Sin(2*math.Pi*220*d.Seconds()))
		if b.loud(d) {
			v = int16(0.5 * math.MaxInt16 * math.Sin(2*math.Pi*1000*d.Seconds()))
		}
		binary.LittleEndian.PutUint16(buf[4*s:], uint16(v))
		binary.LittleEndian.PutUint16(buf[4*s+2:], uint16(v))
	}
	return buf
}
