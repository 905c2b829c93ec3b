package api

// decode's fast path for flat requests (a token request: strings, numbers and
// bools): the body read into a pooled buffer, its keys checked against the
// struct's, plain values set directly (the rest by json.Unmarshal), without a
// json.Decoder's buffers or its reflection per field. Anything it does not take
// plainly (an unknown or escaped key, a second value, any error) goes to the
// Decoder, which then answers exactly as it always has.

import (
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"sync"
)

var (
	flatTypes sync.Map // reflect.Type -> []flatField: a flat struct's fields; nil: not flat
	bodies    = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}
)

// flatField is one field of a flat struct: its JSON name, its index in the
// struct and its kind.
type flatField struct {
	name  string
	index int
	kind  reflect.Kind
}

// flatFields is *v's fields when v points to a flat struct.
func flatFields(v any) []flatField {
	t := reflect.TypeOf(v)
	if f, ok := flatTypes.Load(t); ok {
		return f.([]flatField)
	}
	var fields []flatField
	if t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct && !t.Implements(reflect.TypeFor[json.Unmarshaler]()) {
		fields = []flatField{}
		for _, f := range reflect.VisibleFields(t.Elem()) {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if f.Anonymous || name == "" || !plainKind(f.Type.Kind()) {
				fields = nil // not flat: the Decoder's
				break
			}
			fields = append(fields, flatField{name: name, index: f.Index[0], kind: f.Type.Kind()})
		}
	}
	flatTypes.Store(t, fields)
	return fields
}

func plainKind(k reflect.Kind) bool {
	switch k {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// readBody appends all of r to b (r is bounded by the body limit).
func readBody(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// decodeFlat decodes b into v when b is one object whose keys are all among
// fields' names (as encoding/json matches them: exactly, else
// case-insensitively) and nothing else is wrong with it; false leaves b to the
// Decoder. Values it can read plainly (printable ASCII strings without
// escapes, integers, booleans, null) it sets itself, the rest json.Unmarshal
// sets: either way v ends as encoding/json would leave it.
func decodeFlat(b []byte, v any, fields []flatField) bool {
	var room [8]keyValue
	vals, end, plain := scanKeys(b, fields, room[:0])
	if end == 0 {
		return false
	}
	for _, c := range b[end:] {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	if !plain {
		return json.Unmarshal(b[:end], v) == nil
	}
	rv := reflect.ValueOf(v).Elem()
	for _, f := range vals {
		val, field := b[f.start:f.end], fields[f.field]
		switch {
		case string(val) == "null": // leaves the field as it was, as encoding/json does
		case field.kind == reflect.String:
			rv.Field(field.index).SetString(string(val[1 : len(val)-1]))
		case field.kind == reflect.Bool:
			rv.Field(field.index).SetBool(val[0] == 't')
		default:
			n, _ := plainInt(val)
			rv.Field(field.index).SetInt(n)
		}
	}
	return true
}

// keyValue is one key's field and where its value lies.
type keyValue struct{ field, start, end int }

// scanKeys walks one top-level object, checking each key; end is just past
// its closing brace, 0 when b is not such an object. vals holds each key's
// field and value; plain says every value is one decodeFlat sets itself (and
// that b[:end] is valid JSON), else json.Unmarshal judges the syntax.
func scanKeys(b []byte, fields []flatField, vals []keyValue) (_ []keyValue, end int, plain bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, 0, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return vals, i + 1, true
	}
	plain = true
	for i < len(b) {
		if b[i] != '"' {
			return nil, 0, false
		}
		j := i + 1
		for j < len(b) && b[j] != '"' && b[j] != '\\' && b[j] < 0x80 { // ASCII: folded as encoding/json folds it
			j++
		}
		if j >= len(b) || b[j] != '"' {
			return nil, 0, false
		}
		k := fieldOf(string(b[i+1:j]), fields)
		if k < 0 {
			return nil, 0, false
		}
		if i = skipSpace(b, j+1); i >= len(b) || b[i] != ':' {
			return nil, 0, false
		}
		start := skipSpace(b, i+1)
		if i = skipValue(b, start); i < 0 {
			return nil, 0, false
		}
		if plain = plain && len(vals) < cap(vals) && plainValue(b[start:i], fields[k].kind); plain {
			vals = append(vals, keyValue{k, start, i})
		}
		i = skipSpace(b, i)
		switch {
		case i < len(b) && b[i] == '}':
			return vals, i + 1, plain
		case i < len(b) && b[i] == ',':
			i = skipSpace(b, i+1)
		default:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// plainValue: val is null, or valid JSON of kind that decodeFlat sets itself.
func plainValue(val []byte, kind reflect.Kind) bool {
	switch s := string(val); {
	case s == "null":
		return true
	case kind == reflect.String:
		if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
			return false
		}
		for _, c := range val[1 : len(val)-1] {
			if c < 0x20 || c >= 0x7f || c == '\\' {
				return false
			}
		}
		return true
	case kind == reflect.Bool:
		return s == "true" || s == "false"
	case kind == reflect.Int || kind == reflect.Int64:
		_, ok := plainInt(val)
		return ok
	}
	return false
}

// plainInt reads a JSON integer of at most 18 digits (no fraction, exponent
// or leading zero), which an int64 always holds.
func plainInt(val []byte) (int64, bool) {
	neg := len(val) > 0 && val[0] == '-'
	if neg {
		val = val[1:]
	}
	if len(val) == 0 || len(val) > 18 || (val[0] == '0' && len(val) > 1) {
		return 0, false
	}
	var n int64
	for _, c := range val {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// skipValue is just past the plain value at i (a string, number, true, false
// or null); -1 for anything else (an object or array is no flat field's).
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	if b[i] == '"' {
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1
			}
		}
		return -1
	}
	j := i
	for j < len(b) && (b[j] == '-' || b[j] == '+' || b[j] == '.' || (b[j] >= '0' && b[j] <= '9') || (b[j] >= 'a' && b[j] <= 'z') || (b[j] >= 'A' && b[j] <= 'Z')) {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// fieldOf is the index in fields of the one key names, as encoding/json
// picks it: the exact name, else the first that matches case-insensitively;
// -1 for none.
func fieldOf(key string, fields []flatField) int {
	fold := -1
	for i, f := range fields {
		if f.name == key {
			return i
		}
		if fold < 0 && strings.EqualFold(key, f.name) {
			fold = i
		}
	}
	return fold
}

// IsFlat reports whether v decodes by the fast path.
func IsFlat(v any) bool { return flatFields(v) != nil }
