package api

import (
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/keys"
)

// OpenAPI describes the route table as OpenAPI 3.0. Bodies are derived
// from the handlers' Go types by reflection and the paths from the same table the
// mux is built from, so the document cannot drift from the server.
func OpenAPI(rts []Route) map[string]any {
	paths := map[string]any{}
	for _, rt := range rts {
		for _, p := range rt.Paths() {
			p = OpenAPIPath(p)
			item, _ := paths[p].(map[string]any)
			if item == nil {
				item = map[string]any{}
				paths[p] = item
			}
			item[strings.ToLower(rt.Method)] = operation(rt, p)
		}
	}
	errSchema := schemaOf(reflect.TypeOf(ErrorBody{}))
	errSchema["properties"].(map[string]any)["error"].(map[string]any)["properties"].(map[string]any)["code"] =
		map[string]any{"type": "string", "enum": ErrorCodes}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "streamkit dashboard", "version": "1",
			"description": "Rooms, participants, tokens, ingress (RTMP, WHIP, URL pulls), egress (recording the show's audio, " +
				"stems, the room or HLS, restreaming to RTMP) and the recordings archive (list, download) of a live-music show " +
				"on LiveKit. Every error is " + `{"error":{"code","message"}} with a stable code. Stream routes also answer ` +
				"under /api/stream, the API gateway's paths. The web page (/ and /static/) is not part of this API.",
			// The repository has no licence file: nothing is granted.
			"license": map[string]any{"name": "Proprietary (spacemusic): no licence is granted"}},
		// Relative: the API is wherever this document was fetched from.
		"servers": []any{map[string]any{"url": "/", "description": "this dashboard"}},
		"paths":   paths,
		"components": map[string]any{
			"schemas": map[string]any{"Error": errSchema},
			"securitySchemes": map[string]any{
				"apiKey":      map[string]any{"type": "apiKey", "in": "header", "name": "X-API-Key"},
				"apiKeyQuery": map[string]any{"type": "apiKey", "in": "query", "name": "api_key", "description": "on /metrics only, for scrapers"},
				"bearer":      map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
				"forwardAuth": map[string]any{"type": "apiKey", "in": "header", "name": "X-authentik-username",
					"description": "set by the trusted forward-auth proxy only, with X-Dashboard-Proxy-Secret; ignored otherwise"},
			},
		},
		"security": []any{map[string]any{"apiKey": []any{}}, map[string]any{"bearer": []any{}}, map[string]any{"forwardAuth": []any{}}},
	}
}

func operation(rt Route, path string) map[string]any {
	op := map[string]any{"summary": rt.Summary, "operationId": operationID(rt.Method, path), "x-role": rt.Role.String()}
	if rt.Stricter != nil {
		op["x-role-rules"] = rt.Stricter.Doc
	}
	if params := parametersOf(rt, path); params != nil {
		op["parameters"] = params
	}
	if rt.Request != nil {
		op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
			"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(rt.Request))}}}
	}
	responses := successesOf(rt)
	fail := func(status int, desc string) {
		responses[strconv.Itoa(status)] = map[string]any{"description": desc,
			"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
	}
	accessFailures(rt, op, fail)
	switch rt.Role {
	case Signed:
		// The signature is the authentication (events.Receiver answers these).
		op["requestBody"] = map[string]any{"required": true, "description": "LiveKit's webhook event, signed in the Authorization header",
			"content": map[string]any{"application/webhook+json": map[string]any{"schema": map[string]any{"type": "object"}}}}
		fail(400, "signed, but not a webhook event (invalid_argument)")
		fail(401, "no, garbled, expired or wrong signature, unknown key, or a body changed after signing (unauthenticated)")
		fail(413, "body too large (body_too_large)")
		fail(415, "not application/webhook+json (unsupported_media_type)")
		fail(501, "the live model is not configured on this dashboard (not_configured)")
		fail(503, "the shared event log cannot take it now; LiveKit retries (events_unavailable)")
	case Public:
		fail(400, "an API key in the query (api_key_in_query): send X-API-Key")
	case Scrape:
	default:
		callFailures(rt, path, fail)
	}
	op["responses"] = responses
	return op
}

// parametersOf is rt's path parameters (path is one of its paths) and query.
func parametersOf(rt Route, path string) []any {
	var params []any
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") {
			name := strings.Trim(seg, "{}")
			p := map[string]any{"name": name, "in": "path", "required": true,
				"schema": map[string]any{"type": "string", "maxLength": 128}}
			if rest := strings.Contains(rt.Path, "{"+name+"...}"); rest {
				// OpenAPI has no parameter spanning segments: say so in words
				// and in an extension a client or test can act on.
				p["description"] = "the rest of the path, slashes included (a recording's bucket key: room/...)"
				p["x-rest-of-path"] = true
				p["schema"] = map[string]any{"type": "string", "maxLength": keys.MaxLen}
			}
			params = append(params, p)
		}
	}
	for _, q := range rt.Query {
		params = append(params, map[string]any{"name": q.Name, "in": "query", "required": q.Required,
			"description": q.Help, "schema": map[string]any{"type": "string"}})
	}
	return params
}

// successesOf is rt's answers that are not errors: its status (and okToo), the
// ranges a download answers, health's 503 with the same body.
func successesOf(rt Route) map[string]any {
	ok := map[string]any{"description": "success"}
	switch {
	case len(rt.ContentTypes) > 0:
		content := map[string]any{}
		for _, ct := range rt.ContentTypes {
			schema := map[string]any{"type": "string"}
			if !strings.HasPrefix(ct, "text/") {
				schema["format"] = "binary"
			}
			content[ct] = map[string]any{"schema": schema}
		}
		ok["content"] = content
	case rt.Response != nil:
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(rt.Response))}}
	}
	if len(rt.Headers) > 0 {
		hs := map[string]any{}
		for _, h := range rt.Headers {
			hs[h.Name] = map[string]any{"description": h.Help, "schema": map[string]any{"type": "string"}}
		}
		ok["headers"] = hs
	}
	responses := map[string]any{strconv.Itoa(rt.Status): ok}
	if rt.OKToo != 0 {
		responses[strconv.Itoa(rt.OKToo)] = ok
	}
	if rt.Ranges {
		responses["206"] = map[string]any{"description": "the requested range (Range: bytes=...)", "content": ok["content"]}
		// http.ServeContent answers these itself, in plain text or with no body.
		responses["304"] = map[string]any{"description": "not modified since the ETag or date the caller has (If-None-Match, If-Modified-Since)"}
		responses["412"] = map[string]any{"description": "If-Match or If-Unmodified-Since failed"}
		responses["416"] = map[string]any{"description": "the range is outside the recording",
			"content": map[string]any{"text/plain": map[string]any{"schema": map[string]any{"type": "string"}}}}
	}
	if rt.Path == "/api/health" {
		responses["503"] = map[string]any{"description": "LiveKit unreachable or refusing our credentials; livekit names the failed check",
			"content": ok["content"]}
	}
	return responses
}

// accessFailures is who may call rt: its security schemes and the 421, 429,
// 401 and 403 answers.
func accessFailures(rt Route, op map[string]any, fail func(int, string)) {
	fail(429, "rate limited (rate_limited); see Retry-After"+perPrincipalCap(rt))
	fail(421, "dev mode only: the Host header is not loopback, e.g. a DNS-rebinding page (host_not_loopback)")
	switch rt.Role {
	case Public, Signed:
		op["security"] = []any{}
	case Scrape:
		// Scrapers may only send a key in the URL: ?api_key= works here alone.
		op["security"] = []any{map[string]any{"apiKey": []any{}}, map[string]any{"apiKeyQuery": []any{}},
			map[string]any{"bearer": []any{}}, map[string]any{"forwardAuth": []any{}}}
		fail(401, "no or bad credentials (unauthenticated), when metrics are not public")
	default:
		fail(401, "no or bad credentials (unauthenticated)")
	}
	if rt.Role > Viewer || rt.Stricter != nil {
		need := "the " + rt.Role.String() + " role"
		if rt.Stricter != nil {
			need += "; " + rt.Stricter.Doc
		}
		fail(403, "the caller's role is not enough (forbidden): needs "+need)
	}
}

// callFailures is what a signed-in call to the API may answer besides access.
func callFailures(rt Route, path string, fail func(int, string)) {
	fail(400, "invalid input (invalid_argument, malformed_json, unknown_field), or an API key in the query (api_key_in_query): send X-API-Key"+linkTTLRefusal(rt))
	if rt.Request != nil {
		fail(413, "body too large (body_too_large)")
		fail(415, "not JSON (unsupported_media_type)")
	}
	if strings.Contains(path, "{") || rt.Method != "GET" {
		fail(404, "no such room, participant, ingress, egress or recording (not_found)")
	}
	if rt.Method == "POST" {
		fail(409, "conflicts with the current state (already_exists, failed_precondition)")
	}
	switch {
	case rt.Method == "DELETE" && strings.HasSuffix(rt.Path, "/ingress"):
		fail(409, "the URL pull is live: wait until it ends, or close its room (ingress_live)")
	case rt.Method == "DELETE" && strings.HasSuffix(rt.Path, "/egress"):
		fail(409, "the egress has already ended (failed_precondition)")
	case rt.Method == "POST" && strings.HasSuffix(rt.Path, "/rehearsal"):
		fail(409, "the show is live and force was not sent (show_live)")
	case strings.HasPrefix(rt.Path, "/api/shows") && rt.Method != "GET":
		fail(409, "the show is open with another spec that cannot be changed live (show_spec_changed, naming what differs), the room is no show (not_a_show), "+
			"the show is closing (show_closing), its metadata was changed outside streamkit (show_tampered: an admin closes it), "+
			"or it records or restreams and recording is not configured (failed_precondition)")
	}
	if rt.Needs != "" {
		fail(501, "the service is not configured on this dashboard (not_configured)")
	}
	fail(502, "LiveKit or the recordings bucket refused our credentials or failed the call (upstream_auth, upstream_permission, upstream_error, storage_auth, storage_error)")
	fail(503, "LiveKit or the recordings bucket unavailable, or out of capacity (livekit_unavailable, resource_exhausted, storage_unavailable)")
}

func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, seg := range strings.Split(path, "/") {
		seg = strings.Trim(seg, "{}")
		seg = strings.ReplaceAll(strings.ReplaceAll(seg, ".", ""), "-", "")
		if seg != "" && seg != "api" {
			b.WriteString(strings.ToUpper(seg[:1]) + seg[1:])
		}
	}
	return b.String()
}

var timeType = reflect.TypeOf(time.Time{})

// schemaOf is t's JSON schema, strict both ways so that a body drifting from
// its Go type fails the contract tests: no property beyond the type's, and the
// fields without omitempty/omitzero required (a request refuses unknown
// fields as decode does; an answer always has those fields).
func schemaOf(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t.Kind() == reflect.String:
		return map[string]any{"type": "string"}
	case t.Kind() == reflect.Bool:
		return map[string]any{"type": "boolean"}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return map[string]any{"type": "integer"}
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return map[string]any{"type": "number"}
	case t.Kind() == reflect.Slice:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem())}
	case t.Kind() == reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem())}
	case t.Kind() == reflect.Struct:
		props := map[string]any{}
		var required []string
		addFields(t, props, &required)
		s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			s["required"] = required
		}
		return s
	}
	return map[string]any{}
}

func addFields(t reflect.Type, props map[string]any, required *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			addFields(f.Type, props, required) // promoted, as encoding/json does, of an unexported type too
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		s := schemaOf(f.Type)
		if enum := f.Tag.Get("enum"); enum != "" {
			s["enum"] = strings.Split(enum, ",")
		}
		if pattern := f.Tag.Get("pattern"); pattern != "" {
			s["pattern"] = pattern
		}
		props[name] = s
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			*required = append(*required, name)
			switch f.Type.Kind() {
			case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
				s["nullable"] = true // nil is written as null
			}
		}
	}
}

// OpenAPIPath writes a mux pattern as an OpenAPI path: {key...} (the rest of the
// path) is {key}.
func OpenAPIPath(pattern string) string { return strings.ReplaceAll(pattern, "...}", "}") }

// perPrincipalCap documents the 429 of a route whose cap counts per user.
func perPrincipalCap(rt Route) string {
	switch {
	case rt.Path == "/api/events":
		return "; or the caller holds as many event streams open as one user may (too_many_streams)"
	case rt.Path == "/api/recordings/{key...}":
		return "; or the caller runs as many downloads as one user may (too_many_downloads)"
	case rt.Method == "POST" && rt.Path == "/api/shows/{name}/rehearsal":
		return "; or a rehearsal is running: one at a time per dashboard (rehearsal_busy)"
	}
	return ""
}

// linkTTLRefusal documents the 400 of a link lifetime beyond the caller's role.
func linkTTLRefusal(rt Route) string {
	if rt.Method == "GET" && rt.Path == "/api/recordings" {
		return ", or a linkTtl longer than the caller's role may ask for (link_ttl_too_long)"
	}
	return ""
}
