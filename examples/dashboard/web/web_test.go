package web

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The vendored LiveKit SDK is exactly what scripts/livekit-client took from npm:
// every embedded file matches the sums the script wrote, so a hand edit (or a
// refresh without the script) fails here.
func TestTheVendoredSDKMatchesItsSums(t *testing.T) {
	sums, err := assets.ReadFile("assets/vendor/SHA256SUMS")
	require.NoError(t, err)
	seen := 0
	sc := bufio.NewScanner(strings.NewReader(string(sums)))
	for sc.Scan() {
		want, name, ok := strings.Cut(sc.Text(), "  ")
		require.True(t, ok, "a line of SHA256SUMS: %q", sc.Text())
		b, err := assets.ReadFile("assets/vendor/" + name)
		require.NoError(t, err, name)
		got := sha256.Sum256(b)
		assert.Equal(t, want, hex.EncodeToString(got[:]), "%s differs from its sum: run scripts/livekit-client refresh", name)
		seen++
	}
	assert.Equal(t, 4, seen, "the bundle, its licence, version and npm integrity")
	version, err := assets.ReadFile("assets/vendor/livekit-client.version")
	require.NoError(t, err)
	bundle := assetFiles["vendor/livekit-client.umd.js"].body
	assert.Contains(t, string(bundle[:2000]), "LivekitClient", "the UMD bundle defines the global the monitor uses")
	assert.Regexp(t, `^2\.\d+\.\d+\n$`, string(version))
	assert.Contains(t, string(assetFiles["vendor/livekit-client.LICENSE"].body), "Apache License", "the licence ships with it")
}

// The page may connect to itself and to LiveKit's own origins, nothing else;
// a LiveKit URL that is not ws(s) is refused rather than widening the policy.
func TestThePolicyAllowsOnlyLiveKit(t *testing.T) {
	site, err := NewSite("wss://live.example.org", 3*time.Second)
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	require.NoError(t, site.Page(rec, "mia", false))
	csp := rec.Header().Get("Content-Security-Policy")
	assert.Contains(t, csp, "connect-src 'self' wss://live.example.org https://live.example.org;")
	assert.Contains(t, csp, "script-src 'self';", "still no inline or third-party script")
	assert.Contains(t, rec.Body.String(), `data-silence-after="3"`, "the monitor is told when to call silence")

	local, err := NewSite("ws://127.0.0.1:7880/", 0)
	require.NoError(t, err)
	h := http.Header{}
	local.SecurityHeaders(h)
	assert.Contains(t, h.Get("Content-Security-Policy"), "connect-src 'self' ws://127.0.0.1:7880 http://127.0.0.1:7880;")

	for _, bad := range []string{"https://live.example.org", "javascript:alert(1)", "wss://", "ws://a b"} {
		_, err := NewSite(bad, 0)
		assert.Error(t, err, bad)
	}
	none, err := NewSite("", 0)
	require.NoError(t, err)
	none.SecurityHeaders(h)
	assert.Contains(t, h.Get("Content-Security-Policy"), "connect-src 'self';")
}
