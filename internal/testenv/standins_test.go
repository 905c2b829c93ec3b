package testenv

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Like OBS, the RTMP stand-in retries a push that is refused: started while
// nothing listens yet, it still delivers audio once the ingest comes up.
func TestPushRTMPRetriesARefusedPush(t *testing.T) {
	port := FreePort(t)
	key := "sk_retry"
	PushRTMP(t, fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", port, key), 20*time.Second, true)
	time.Sleep(3 * time.Second) // a few refused attempts
	ingest := receiveRTMPOn(t, "late-ingest", port)
	ingest.WaitAudio(t, 2*time.Second, 15*time.Second)
}

// MediaFile serves its file at twice real time, as a distant web server would:
// a 6 s file takes at least about 3 s to download, and arrives whole.
func TestMediaFileIsPaced(t *testing.T) {
	link := MediaFile(t, "set.ogg", 6*time.Second)
	start := time.Now()
	resp, err := http.Get(link)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	took := time.Since(start)
	assert.True(t, strings.HasPrefix(string(body), "OggS"), "an Ogg file")
	assert.GreaterOrEqual(t, took, 2500*time.Millisecond, "served faster than twice real time")
}

// A missing component skips a test locally, saying how to fix it, and fails it
// when CI=true.
func TestMissingSkipsLocallyAndFailsInCI(t *testing.T) {
	for ci, want := range map[string]string{"": "skip", "false": "skip", "true": "fatal", "1": "fatal"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			rec := &recordingTB{TB: t}
			func() {
				defer func() { _ = recover() }() // the recorder ends the call as Fatalf/Skipf would
				missing(rec, "Ingress", "run scripts/stack install ingress")
			}()
			assert.Equal(t, want, rec.how)
			assert.Contains(t, rec.msg, "scripts/stack install ingress", "says how to get it")
		})
	}
}

// recordingTB notes how a test was stopped instead of stopping it.
type recordingTB struct {
	TB
	how, msg string
}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.how, r.msg = "fatal", fmt.Sprintf(format, args...)
	panic(r.how)
}

func (r *recordingTB) Skipf(format string, args ...any) {
	r.how, r.msg = "skip", fmt.Sprintf(format, args...)
	panic(r.how)
}
