package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The OpenAPI document is the dashboard's contract. Every dashboard a test
// builds sits behind contract(), which checks each request and answer against
// the served document with kin-openapi: an answer the document does not
// describe (status, content type, headers, body) fails the test that asked.
// Requests are checked too: tests send hostile input on purpose, so a request
// the document calls invalid must get a documented 4xx (or the 501 of a
// service this dashboard does not run); a 2xx to it is a broken contract.

// contractTestHeader names, on a request, the test that sent it (see
// stage.do), so that a violation fails that test (a subtest, a fuzz input)
// rather than the one that built the stage.
const contractTestHeader = "X-Contract-Test"

// served is the OpenAPI document as the dashboard serves it, loaded once.
var served = sync.OnceValues(func() (*contractDoc, error) {
	rec := httptest.NewRecorder()
	NewServer(Deps{Settings: defaultSettings()}).ServeHTTP(rec, httptest.NewRequest("GET", "/api/openapi.json", nil))
	if rec.Code != http.StatusOK {
		return nil, fmt.Errorf("GET /api/openapi.json: %d %s", rec.Code, rec.Body)
	}
	doc, err := openapi3.NewLoader().LoadFromData(rec.Body.Bytes())
	if err != nil {
		return nil, err
	}
	return newContractDoc(doc), nil
})

// contractDoc finds a request's operation in the document with a ServeMux
// built from the document's paths, which matches as the dashboard's own mux
// does (a parameter marked x-rest-of-path takes the rest of the path).
type contractDoc struct {
	doc *openapi3.T
	mux *http.ServeMux
}

type found struct {
	route  *routers.Route
	params map[string]string
}

func newContractDoc(doc *openapi3.T) *contractDoc {
	c := &contractDoc{doc: doc, mux: http.NewServeMux()}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			pattern := path
			var names []string
			for _, p := range op.Parameters {
				if p.Value.In != openapi3.ParameterInPath {
					continue
				}
				names = append(names, p.Value.Name)
				if rest, _ := p.Value.Extensions["x-rest-of-path"].(bool); rest {
					pattern = strings.Replace(pattern, "{"+p.Value.Name+"}", "{"+p.Value.Name+"...}", 1)
				}
			}
			rt := &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: op}
			c.mux.HandleFunc(method+" "+pattern, func(w http.ResponseWriter, r *http.Request) {
				f := found{route: rt, params: map[string]string{}}
				for _, n := range names {
					f.params[n] = r.PathValue(n)
				}
				*r.Context().Value(foundKey{}).(*found) = f
			})
		}
	}
	return c
}

type foundKey struct{}

// find is the documented operation r asks for; nil when there is none.
func (c *contractDoc) find(r *http.Request) *found {
	f := &found{}
	c.mux.ServeHTTP(httptest.NewRecorder(), r.Clone(context.WithValue(r.Context(), foundKey{}, f)))
	if f.route == nil {
		return nil
	}
	return f
}

// contract wraps a dashboard handler; failures go to t unless the request
// names a test registered with stage.do.
type contract struct {
	t     testing.TB
	doc   *contractDoc
	tests sync.Map // name → testing.TB
}

func newContract(t testing.TB, next http.Handler) (*contract, http.Handler) {
	t.Helper()
	doc, err := served()
	if err != nil {
		t.Fatalf("the served OpenAPI document does not load: %v", err)
	}
	c := &contract{t: t, doc: doc}
	return c, c.wrap(next)
}

// asking registers t as a test that tags its requests with its name.
func (c *contract) asking(t testing.TB) { c.tests.Store(t.Name(), t) }

func (c *contract) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := c.t
		if v, ok := c.tests.Load(r.Header.Get(contractTestHeader)); ok {
			t = v.(testing.TB)
		}
		// The body is read here, for the check, and handed on unchanged
		// (with whatever error ended it, such as a read timeout).
		body, readErr := io.ReadAll(r.Body)
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{readErr}))
		sent := r.Clone(r.Context())
		cw := &contractWriter{ResponseWriter: w, check: func(status int, h http.Header, answer []byte) {
			if err := c.doc.check(sent, body, status, h, answer); err != nil {
				t.Errorf("contract: %s %s answered %d: %v", sent.Method, sent.URL.RequestURI(), status, err)
			}
		}}
		next.ServeHTTP(cw, r)
		cw.finish()
	})
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err == nil {
		return 0, io.EOF
	}
	return 0, e.err
}

// contractWriter checks an answer before the client can see it, so that the
// asking test is still running: a JSON answer is held until the handler
// returns; any other (a recording, metrics, the page) is checked by its
// status and headers as they are written, and then streams as it would.
type contractWriter struct {
	http.ResponseWriter
	check   func(status int, h http.Header, body []byte)
	status  int
	held    bool
	body    bytes.Buffer
	checked bool
}

func (w *contractWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	if isJSON(w.Header().Get("Content-Type")) {
		w.held = true
		return
	}
	w.checked = true
	w.check(code, w.Header(), nil)
	w.ResponseWriter.WriteHeader(code)
}

func (w *contractWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.held {
		return w.body.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

func (w *contractWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *contractWriter) finish() {
	if w.status == 0 { // nothing written: net/http answers 200
		w.status = http.StatusOK
	}
	if !w.checked {
		w.check(w.status, w.Header(), w.body.Bytes())
	}
	if w.held {
		w.ResponseWriter.WriteHeader(w.status)
		_, _ = w.ResponseWriter.Write(w.body.Bytes())
	}
}

func isJSON(ct string) bool {
	mt, _, _ := mime.ParseMediaType(ct)
	return mt == "application/json"
}

// check is the contract for one exchange. body is the answer's when it is
// JSON, else nil (only its status and headers are checked).
func (c *contractDoc) check(r *http.Request, reqBody []byte, status int, h http.Header, body []byte) error {
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		return nil // a CORS preflight, answered before any route
	}
	f := c.find(r)
	if f == nil {
		return checkUndocumented(r, status, h, body)
	}
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	opts.WithCustomSchemaErrorFunc(brief)
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: f.params, Route: f.route, Options: opts}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	switch {
	case reqErr != nil && status >= 200 && status < 300:
		return fmt.Errorf("a success for a request the document calls invalid: %w", reqErr)
	// A route whose service is not configured answers 501 before it reads
	// anything; any other 5xx means bad input went upstream unchecked.
	case reqErr != nil && (status < 400 || status >= 500) && status != http.StatusNotImplemented:
		return fmt.Errorf("not a 4xx for a request the document calls invalid (%v)", reqErr)
	}
	asJSON := isJSON(h.Get("Content-Type"))
	respOpts := &openapi3filter.Options{IncludeResponseStatus: true, ExcludeResponseBody: !asJSON}
	respOpts.WithCustomSchemaErrorFunc(brief)
	err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: status, Header: h, Body: io.NopCloser(bytes.NewReader(body)),
		Options: respOpts})
	if err != nil || asJSON {
		return err
	}
	// A body kin-openapi does not decode: its media type must be documented.
	if resp := f.route.Operation.Responses.Status(status); resp != nil && len(resp.Value.Content) > 0 &&
		resp.Value.Content.Get(h.Get("Content-Type")) == nil {
		return fmt.Errorf("content type %q is not documented for %d", h.Get("Content-Type"), status)
	}
	return nil
}

// brief is a schema error without the schema and value it would print: where
// in the body, and what is wrong.
func brief(err *openapi3.SchemaError) string {
	return fmt.Sprintf("at /%s: %s", strings.Join(err.JSONPointer(), "/"), err.Reason)
}

// checkUndocumented: what the document does not have is the router's 404 or
// 405, or the web page (outside the API's document, with its own few answers).
func checkUndocumented(r *http.Request, status int, h http.Header, body []byte) error {
	ct, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	page := r.Method == "GET" || r.Method == "HEAD"
	switch {
	case page && r.URL.Path == "/" && status == http.StatusOK && ct == "text/html":
		return nil
	case page && strings.HasPrefix(r.URL.Path, "/static/") && (status == http.StatusOK && (ct == "text/javascript" || ct == "text/css") ||
		status == http.StatusNotModified):
		return nil
	}
	if status/100 == 3 && h.Get("Location") != "" && path.Clean(r.URL.Path) != r.URL.Path {
		return nil // the router sends a path with dots or double slashes to its clean form
	}
	var e api.ErrorBody
	if ct != "application/json" || json.Unmarshal(body, &e) != nil {
		return fmt.Errorf("undocumented route, and not the one error shape (%s)", ct)
	}
	switch {
	case status == http.StatusNotFound && e.Error.Code == "route_not_found",
		status == http.StatusMethodNotAllowed && e.Error.Code == "method_not_allowed",
		// The page and its assets answer in the one error shape too.
		page && (r.URL.Path == "/" || strings.HasPrefix(r.URL.Path, "/static/")) && status >= 400 && status < 500,
		status == http.StatusTooManyRequests && e.Error.Code == "rate_limited":
		return nil
	}
	return fmt.Errorf("undocumented route answered %s", e.Error.Code)
}

// The document is valid OpenAPI 3 by kin-openapi's reading of the spec (a
// tool a client generator could use), and describes every recording route.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	c, err := served()
	require.NoError(t, err)
	require.NoError(t, c.doc.Validate(t.Context()))
	assert.NotNil(t, c.doc.Info.License, "info.license")
	require.NotEmpty(t, c.doc.Servers, "servers")
	assert.Equal(t, "/", c.doc.Servers[0].URL)
	for _, word := range []string{"ingress", "egress", "recordings"} {
		assert.Contains(t, c.doc.Info.Description, word)
	}
	download := c.doc.Paths.Find("/api/recordings/{key}").Get
	require.NotNil(t, download)
	key := download.Parameters.GetByInAndName("path", "key")
	require.NotNil(t, key)
	assert.Equal(t, true, key.Extensions["x-rest-of-path"], "a key spans segments")
	for _, ct := range []string{"audio/ogg", "video/mp4", "application/vnd.apple.mpegurl", "video/mp2t", "application/octet-stream"} {
		assert.NotNil(t, download.Responses.Status(200).Value.Content.Get(ct), ct)
	}
}
