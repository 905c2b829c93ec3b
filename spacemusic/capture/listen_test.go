package capture

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/recordings"
	"github.com/spacemusic/streamkit/spacemusic/storage"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// A show's live meter takes its time to end (loudness waits up to 3 s for its
// ffmpeg): the part is uploaded, and told, while the meter's Close still
// blocks; the recorder's Close then waits for that Close to return.
func TestAPartIsUploadedWhileItsMeterIsStillEnding(t *testing.T) {
	b := &takingBucket{puts: make(chan string, 4)}
	store, err := recordings.New(recordings.Config{Config: storage.Config{Endpoint: "http://127.0.0.1:1", Bucket: "recordings",
		AccessKey: "unused", SecretKey: "unused-secret"}, HTTPClient: &http.Client{Transport: b}})
	require.NoError(t, err)
	iss, err := tokens.NewIssuer("devkey", "a-secret-of-at-least-32-characters!!")
	require.NoError(t, err)
	r, err := New(Config{URL: "ws://127.0.0.1:1", Tokens: iss, Store: store, Dir: t.TempDir()})
	require.NoError(t, err)
	m := &slowMeter{closing: make(chan struct{}), release: make(chan struct{})}
	released := false
	defer func() { // a failed test must not leave the reader blocked
		if !released {
			close(m.release)
		}
	}()
	r.Listen(func(string) io.WriteCloser { return m })
	ended := make(chan Part, 4)
	r.Notify(func(p Part) {
		if p.Status != egress.Active {
			ended <- p
		}
	})

	// One second of Opus (50 packets of 20 ms, CELT fullband stereo), then
	// the track ends.
	packets := make([][]byte, 50)
	for i := range packets {
		packets[i] = []byte{0xfc, byte(i), 0x55, 0xaa}
	}
	s := &session{r: r, room: "jam"}
	r.mu.Lock()
	r.sessions["jam"] = s
	r.mu.Unlock()
	s.mu.Lock()
	s.startLocked(&fakeTrack{packets: packets}, "obs")
	s.mu.Unlock()

	// The deadlines only tell a hang from a failure: nothing here is timed.
	wait := func(ch <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(30 * time.Second):
			t.Fatal(what)
		}
	}
	wait(m.closing, "the meter was never closed")
	var p Part
	select {
	case p = <-ended:
	case <-time.After(30 * time.Second):
		t.Fatal("the part's upload waits for the live meter's Close")
	}
	assert.False(t, m.returned.Load(), "the meter's Close still blocks")
	assert.Equal(t, egress.Complete, p.Status, p.Error)
	assert.Equal(t, time.Second, p.Duration)
	assert.Equal(t, "/recordings/"+p.Key, <-b.puts)

	close(m.release)
	released = true
	done := make(chan struct{})
	go func() { r.Close(); close(done) }()
	wait(done, "the recorder's Close never returned")
	assert.True(t, m.returned.Load(), "the recorder's Close waits for the meter's")
}

// fakeTrack plays its packets, then ends as a track does.
type fakeTrack struct{ packets [][]byte }

func (f *fakeTrack) ReadRTP() (*rtp.Packet, interceptor.Attributes, error) {
	if len(f.packets) == 0 {
		return nil, nil, io.EOF
	}
	p := &rtp.Packet{Payload: f.packets[0]}
	f.packets = f.packets[1:]
	return p, nil, nil
}

// slowMeter is a live meter whose Close blocks until released.
type slowMeter struct {
	closing  chan struct{} // closed when Close is called
	release  chan struct{}
	returned atomic.Bool
}

func (m *slowMeter) Write(p []byte) (int, error) { return len(p), nil }

func (m *slowMeter) Close() error {
	close(m.closing)
	<-m.release
	m.returned.Store(true)
	return nil
}

// takingBucket is an object store that takes every upload, telling its path.
type takingBucket struct{ puts chan string }

func (b *takingBucket) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
	}
	code := http.StatusNotFound
	if req.Method == http.MethodPut {
		code = http.StatusOK
		b.puts <- req.URL.Path
	}
	return &http.Response{StatusCode: code, Header: http.Header{"Etag": {`"0"`}}, Body: io.NopCloser(strings.NewReader("")),
		ContentLength: 0, Request: req}, nil
}
