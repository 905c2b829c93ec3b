package main

import (
	"reflect"
	"strconv"
	"strings"
	"time"
)

// openAPIDocument describes the route table as OpenAPI 3.0; bodies are derived from
// the Go types by reflection, so the document cannot drift from the handlers.
func openAPIDocument(rts []route) map[string]any {
	paths := map[string]any{}
	errorRef := map[string]any{"$ref": "#/components/schemas/Error"}
	for _, rt := range rts {
		for _, prefix := range rt.prefixes() {
			p := prefix + rt.path
			item, _ := paths[p].(map[string]any)
			if item == nil {
				item = map[string]any{}
				paths[p] = item
			}
			op := map[string]any{"summary": rt.summary, "operationId": operationID(rt.method, p)}
			var params []any
			for _, seg := range strings.Split(rt.path, "/") {
				if strings.HasPrefix(seg, "{") {
					params = append(params, map[string]any{"name": strings.Trim(seg, "{}"), "in": "path", "required": true,
						"schema": map[string]any{"type": "string", "maxLength": 128}})
				}
			}
			if params != nil {
				op["parameters"] = params
			}
			if rt.request != nil {
				op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
					"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(rt.request))}}}
			}
			ok := map[string]any{"description": "success"}
			if rt.response != nil {
				ok["content"] = map[string]any{"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(rt.response))}}
			}
			responses := map[string]any{itoa(rt.status): ok}
			errResp := func(desc string) map[string]any {
				return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": errorRef}}}
			}
			if rt.public {
				op["security"] = []any{}
				if rt.path == "/health" {
					responses["503"] = map[string]any{"description": "LiveKit unreachable; names the failed check"}
				}
			} else {
				responses["400"] = errResp("invalid input (codes: invalid_argument, malformed_json, unknown_field)")
				responses["401"] = errResp("no or bad credentials")
				responses["404"] = errResp("no such room or participant")
				responses["413"] = errResp("body too large")
				responses["429"] = errResp("rate limited")
				responses["502"] = errResp("LiveKit refused or failed the call")
				responses["503"] = errResp("LiveKit unavailable")
				if rt.admin || strings.Contains(rt.summary, "admin") {
					responses["403"] = errResp("needs the admin group")
				}
			}
			op["responses"] = responses
			item[strings.ToLower(rt.method)] = op
		}
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info":    map[string]any{"title": "streamkit dashboard", "version": "1", "description": "Rooms, participants, tokens, ingress and recordings of a live-music show on LiveKit."},
		"paths":   paths,
		"components": map[string]any{
			"schemas": map[string]any{"Error": schemaOf(reflect.TypeOf(errorBody{}))},
			"securitySchemes": map[string]any{
				"apiKey":      map[string]any{"type": "apiKey", "in": "header", "name": "X-API-Key"},
				"apiKeyQuery": map[string]any{"type": "apiKey", "in": "query", "name": "api_key"},
				"bearer":      map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
				"forwardAuth": map[string]any{"type": "apiKey", "in": "header", "name": "X-authentik-username", "description": "set by the trusted forward-auth proxy only"},
			},
		},
		"security": []any{map[string]any{"apiKey": []any{}}, map[string]any{"apiKeyQuery": []any{}}, map[string]any{"bearer": []any{}}, map[string]any{"forwardAuth": []any{}}},
	}
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

func itoa(i int) string { return strconv.Itoa(i) }

var timeType = reflect.TypeOf(time.Time{})

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
		addFields(t, props)
		return map[string]any{"type": "object", "properties": props}
	}
	return map[string]any{}
}

func addFields(t reflect.Type, props map[string]any) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			addFields(f.Type, props)
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = schemaOf(f.Type)
	}
}
