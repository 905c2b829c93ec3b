package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// RTMPIngest stands in for a streaming platform's RTMP ingest: ffmpeg listens on
// loopback for one publisher and copies what it sends into an FLV file. It ends
// when the publisher disconnects.
type RTMPIngest struct {
	Name string
	URL  string // rtmp://127.0.0.1:port/live/<Key>
	Key  string // the stream key: must never show up in what our code reports
	File string

	ffmpeg string
	proc   *Process
}

const ingestExited = "rtmp ingest exited with status"

// ReceiveRTMP starts an RTMP ingest named name and returns once it listens.
func ReceiveRTMP(t TB, name string) *RTMPIngest {
	t.Helper()
	return receiveRTMPOn(t, name, FreePort(t))
}

// receiveRTMPOn is ReceiveRTMP on a given port, for a publisher already trying it.
func receiveRTMPOn(t TB, name string, port int) *RTMPIngest {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	r := &RTMPIngest{Name: name, Key: "sk_" + hex.EncodeToString(b), File: filepath.Join(t.TempDir(), name+".flv")}
	r.URL = fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", port, r.Key)
	r.ffmpeg = Binary(t, "ffmpeg", "ffmpeg")
	script := `"$0" "$@"; echo "` + ingestExited + ` $?"`
	// -flush_packets 1: write each packet through, or the file grows in 256 KiB
	// steps (~16 s of audio) and lags what the ingest has received.
	r.proc = StartProcess(t, name, "/bin/bash", []string{"-c", script, r.ffmpeg,
		"-hide_banner", "-loglevel", "info", "-listen", "1", "-i", r.URL,
		"-c", "copy", "-flush_packets", "1", "-f", "flv", "-y", r.File})
	// Wait for the listening socket without connecting: the ingest takes one
	// connection only, so a probe would use it up.
	for deadline := time.Now().Add(10 * time.Second); !listening(port); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("testenv: %s never listened on port %d:\n%s", name, port, r.proc.Output())
		}
	}
	return r
}

// Audio is how much audio the ingest holds so far, decoded.
func (r *RTMPIngest) Audio() (time.Duration, error) {
	out, err := exec.Command(r.ffmpeg, "-v", "error", "-i", r.File, "-vn", "-ac", "1", "-ar", "48000", "-f", "s16le", "-").Output()
	if len(out) == 0 && err != nil {
		return 0, err
	}
	return time.Duration(len(out)/2) * time.Second / 48000, nil
}

// WaitAudio waits, for at most limit, until the ingest holds at least d of audio.
func (r *RTMPIngest) WaitAudio(t TB, d, limit time.Duration) {
	t.Helper()
	var got time.Duration
	began := time.Now()
	for deadline := began.Add(limit); ; time.Sleep(250 * time.Millisecond) {
		if got, _ = r.Audio(); got >= d {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: %s received %s of audio within %s, want %s:\n%s", r.Name, got, limit, d, r.proc.Output())
		}
	}
	t.Logf("testenv: %s holds %.1fs of audio (waited %.1fs for %s)", r.Name, got.Seconds(), time.Since(began).Seconds(), d)
}

// WaitEnded waits, for at most limit, until the publisher has left and the
// ingest has closed its file; it reports whether ffmpeg ended cleanly.
func (r *RTMPIngest) WaitEnded(t TB, limit time.Duration) (clean bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !strings.Contains(r.proc.Output(), ingestExited); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("testenv: %s: the publisher never left:\n%s", r.Name, r.proc.Output())
		}
	}
	return strings.Contains(r.proc.Output(), ingestExited+" 0")
}

// Output is ffmpeg's log so far.
func (r *RTMPIngest) Output() string { return r.proc.Output() }

// listening reports whether a TCP socket listens on 127.0.0.1:port (from /proc).
func listening(port int) bool {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 3 && f[1] == want && f[3] == "0A" {
			return true
		}
	}
	return false
}
