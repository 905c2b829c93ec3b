package main

// decode's fast path for flat requests (a token request: strings, numbers and
// bools): the body read into a pooled buffer, its keys checked against the
// struct's, and json.Unmarshal, without a json.Decoder's buffers. Anything it
// does not take plainly (an unknown or escaped key, a second value, any error)
// goes to the Decoder, which then answers exactly as it always has.

import (
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"sync"
)

var (
	flatTypes sync.Map // reflect.Type -> []string: a flat struct's JSON names; nil: not flat
	bodies    = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}
)

// flatFields is the JSON names of *v's fields when v points to a flat struct.
func flatFields(v any) []string {
	t := reflect.TypeOf(v)
	if f, ok := flatTypes.Load(t); ok {
		return f.([]string)
	}
	var names []string
	if t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct && !t.Implements(reflect.TypeFor[json.Unmarshaler]()) {
		names = []string{}
		for _, f := range reflect.VisibleFields(t.Elem()) {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if f.Anonymous || name == "" || !plainKind(f.Type.Kind()) {
				names = nil // not flat: the Decoder's
				break
			}
			names = append(names, name)
		}
	}
	flatTypes.Store(t, names)
	return names
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
// names (as encoding/json matches them, case-insensitively) and nothing else
// is wrong with it; false leaves b to the Decoder.
func decodeFlat(b []byte, v any, names []string) bool {
	end, ok := scanKeys(b, names)
	if !ok {
		return false
	}
	for _, c := range b[end:] {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return json.Unmarshal(b[:end], v) == nil
}

// scanKeys walks one top-level object, checking each key; end is just past
// its closing brace. It only looks; json.Unmarshal judges the syntax.
func scanKeys(b []byte, names []string) (end int, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return 0, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for i < len(b) {
		if b[i] != '"' {
			return 0, false
		}
		j := i + 1
		for j < len(b) && b[j] != '"' && b[j] != '\\' && b[j] < 0x80 { // ASCII: folded as encoding/json folds it
			j++
		}
		if j >= len(b) || b[j] != '"' || !known(string(b[i+1:j]), names) {
			return 0, false
		}
		i = skipSpace(b, j+1)
		if i >= len(b) || b[i] != ':' {
			return 0, false
		}
		if i = skipValue(b, skipSpace(b, i+1)); i < 0 {
			return 0, false
		}
		i = skipSpace(b, i)
		switch {
		case i < len(b) && b[i] == '}':
			return i + 1, true
		case i < len(b) && b[i] == ',':
			i = skipSpace(b, i+1)
		default:
			return 0, false
		}
	}
	return 0, false
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

func known(key string, names []string) bool {
	for _, n := range names {
		if strings.EqualFold(key, n) {
			return true
		}
	}
	return false
}
