package api

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// flatRequest is shaped as the dashboard's token request: the fast path's
// main customer (TestATokenRequestIsFlat holds that the real one is flat).
type flatRequest struct {
	Role     string `json:"role"`
	Room     string `json:"room"`
	Identity string `json:"identity"`
	Name     string `json:"name,omitempty"`
	Metadata string `json:"metadata,omitempty"`
	TTL      int    `json:"ttl,omitempty"`
}

// decodeBoth decodes body into a token request by the fast path and by the
// Decoder alone (the fast path switched off for the type).
func decodeBoth(t *testing.T, body string) (fast, slow *flatRequest, fastErr, slowErr error) {
	req := func() *http.Request {
		r := httptest.NewRequest("POST", "/api/tokens", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 256)
		return r
	}
	typ := reflect.TypeFor[*flatRequest]()
	fast, slow = new(flatRequest), new(flatRequest)
	fastErr = Decode(req(), fast)
	flatTypes.Store(typ, []flatField(nil))
	defer flatTypes.Delete(typ)
	slowErr = Decode(req(), slow)
	return fast, slow, fastErr, slowErr
}

// The fast path decodes a flat request as the Decoder does, and refuses what
// it refuses with the same answer: unknown, escaped, non-ASCII and differently
// cased keys, second values, bad types, broken syntax, oversized bodies.
func FuzzFlatDecodeAgreesWithTheDecoder(f *testing.F) {
	for _, s := range []string{
		`{"role":"listener","room":"bench-0001","identity":"bob","ttl":600}`,
		`{"ROLE":"listener","Room":"x","identity":"bob"}`, `{"role":"listener","extra":1}`, `{"rol\u0065":"listener"}`,
		`{"role":"listener"} {"role":"performer"}`, `{"role":"listener"}]`, `{"ttl":"600"}`, `{"ttl":1e3}`, `{"ttl":600.5}`,
		`{"role":null,"ttl":null}`, `{"role":{"a":1}}`, `{"role":["a"]}`, `[]`, `"x"`, ``, `   `, `{`, `{"role":"a",}`,
		`{"role":"a" "room":"b"}`, `{"rôle":"a"}`, `{"role":"\ud800"}`, `{"role":"a","role":"b"}`, `{"ttl":-1}`,
		`{"identity":"` + strings.Repeat("a", 300) + `"}`, `{"ttl":99999999999999999999}`, `{"role":tru}`, `{"role":true}`,
		"{\"role\":\"listener\"}\n", `{"metadata":"{\"x\":1}"}`, `{} `, `{}x`,
		`{"ttl":-0}`, `{"ttl":-}`, `{"ttl":0123}`, `{"ttl":+5}`, "{\"role\":\"a\x7f\"}", "{\"role\":\"a\x01\"}",
		`{"Role":"a","role":"b"}`, `{"role":"a","Role":null}`, `{"ttl":123456789012345678}`, `{"ttl":-1234567890123456789}`,
		`{"ttl":true}`, `{"role":false}`, `{"ttl":600,"ttl":null}`, `{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9}`,
		`{"role":"a","room":"b","identity":"c","name":"d","metadata":"e","ttl":1,"role":"f","room":"g","identity":"h"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		fast, slow, fastErr, slowErr := decodeBoth(t, body)
		require.Equal(t, slowErr, fastErr, "%q", body)
		if slowErr == nil {
			require.Equal(t, slow, fast, "%q", body)
		}
	})
}

// A token-shaped request takes the fast path; a request with a nested field does not.
func TestAFlatRequestTakesTheFastPath(t *testing.T) {
	fields := flatFields(new(flatRequest))
	var names []string
	for _, f := range fields {
		names = append(names, f.name)
	}
	require.ElementsMatch(t, []string{"role", "room", "identity", "name", "metadata", "ttl"}, names)
	var req flatRequest
	require.True(t, decodeFlat([]byte(` {"role":"listener","room":"r","identity":"bob","ttl":600} `), &req, fields))
	require.Equal(t, flatRequest{Role: "listener", Room: "r", Identity: "bob", TTL: 600}, req)
	require.False(t, decodeFlat([]byte(`{"role":"listener","x":1}`), new(flatRequest), fields))
	require.Nil(t, flatFields(new(struct {
		A []string `json:"a"`
	})))
}
