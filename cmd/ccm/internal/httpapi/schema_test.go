package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/cmd/ccm/internal/httpapi"
)

// openAPIDoc is the OpenAPI document decoded, for checking answers
// against it.
func openAPIDoc(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.Unmarshal(httpapi.OpenAPI(), &doc))
	return doc
}

// checkResponse checks an answer of the operation method path (a path of
// the document, with its braces) against the document: its status is
// documented, its media type is one the status documents, and its body
// matches the schema (JSON) or begins with the example's first line (CSV).
func checkResponse(t *testing.T, method, path string, r response) {
	t.Helper()
	doc := openAPIDoc(t)
	op, ok := lookup(doc, "paths", path, strings.ToLower(method)).(map[string]any)
	require.True(t, ok, "%s %s is documented", method, path)
	res, ok := lookup(op, "responses", strconv.Itoa(r.code)).(map[string]any)
	require.True(t, ok, "%s %s documents status %d (body %s)", method, path, r.code, r.body)
	res = resolve(t, doc, res)
	mt, _, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	require.NoError(t, err, "Content-Type %q", r.header.Get("Content-Type"))
	media, ok := lookup(res, "content", mt).(map[string]any)
	require.True(t, ok, "%s %s %d documents %s", method, path, r.code, mt)
	if mt == "text/csv" {
		example, _ := media["example"].(string)
		want, _, _ := strings.Cut(example, "\n")
		got, _, _ := strings.Cut(string(r.body), "\n")
		require.Equal(t, want, got, "%s %s: the CSV header is the documented one", method, path)
		return
	}
	var body any
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	require.NoError(t, dec.Decode(&body), "the body is JSON: %s", r.body)
	if errs := validate(doc, media["schema"], body, "body"); len(errs) > 0 {
		require.Fail(t, "the body does not match the document", "%s %s %d:\n%s", method, path, r.code, strings.Join(errs, "\n"))
	}
}

func lookup(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// resolve follows a $ref into the document's components.
func resolve(t *testing.T, doc map[string]any, m map[string]any) map[string]any {
	ref, ok := m["$ref"].(string)
	if !ok {
		return m
	}
	keys := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
	out, ok := lookup(doc, keys...).(map[string]any)
	require.True(t, ok, "ref %s resolves", ref)
	return out
}

// validate checks v against the subset of JSON Schema the document uses
// ($ref, type, required, properties, additionalProperties, items, enum,
// format date and date-time) and returns what does not match, each with
// its place in the body.
func validate(doc map[string]any, schema any, v any, at string) []string {
	s, ok := schema.(map[string]any)
	if !ok {
		return nil
	}
	if ref, ok := s["$ref"].(string); ok {
		return validate(doc, lookup(doc, strings.Split(strings.TrimPrefix(ref, "#/"), "/")...), v, at)
	}
	types := schemaTypes(s["type"])
	if slices.Contains(types, "number") {
		types = append(types, "integer")
	}
	if len(types) > 0 && !slices.Contains(types, jsonType(v)) {
		return []string{fmt.Sprintf("%s: a %s, want %s", at, jsonType(v), strings.Join(types, " or "))}
	}
	var errs []string
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, v) {
		errs = append(errs, fmt.Sprintf("%s: %v is not one of %v", at, v, enum))
	}
	if str, ok := v.(string); ok {
		errs = append(errs, checkFormat(s["format"], str, at)...)
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		required, _ := s["required"].([]any)
		for _, req := range required {
			if _, ok := x[req.(string)]; !ok {
				errs = append(errs, fmt.Sprintf("%s: no %s", at, req))
			}
		}
		for k, y := range x {
			sub, ok := props[k]
			if !ok {
				sub = s["additionalProperties"]
			}
			if sub == false {
				errs = append(errs, fmt.Sprintf("%s: %s is not a documented property", at, k))
			}
			errs = append(errs, validate(doc, sub, y, at+"."+k)...)
		}
	case []any:
		for i, y := range x {
			errs = append(errs, validate(doc, s["items"], y, fmt.Sprintf("%s[%d]", at, i))...)
		}
	}
	return errs
}

func schemaTypes(t any) []string {
	switch x := t.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, y := range x {
			out = append(out, y.(string))
		}
		return out
	}
	return nil
}

func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	}
	return "object"
}

func checkFormat(format any, s, at string) []string {
	var err error
	switch format {
	case "date":
		_, err = time.Parse(time.DateOnly, s)
	case "date-time":
		_, err = time.Parse(time.RFC3339Nano, s)
	}
	if err != nil {
		return []string{fmt.Sprintf("%s: %q is not a %s", at, s, format)}
	}
	return nil
}

// The check of answers against the document sees what does not match.
func TestValidateFindsMismatches(t *testing.T) {
	doc := openAPIDoc(t)
	table := map[string]any{"$ref": "#/components/schemas/StatesTable"}
	body := map[string]any{"as_of": "2012-09-14", "known_at": map[string]any{"seq": json.Number("3")},
		"annual_rule": "x", "states": []any{map[string]any{"state": json.Number("1")}}}
	errs := validate(doc, table, body, "body")
	require.NotEmpty(t, errs)
	joined := strings.Join(errs, "\n")
	require.Contains(t, joined, "body.states[0].state: a integer, want string")
	require.Contains(t, joined, "body.states[0]: no region")
	body["as_of"] = "14/09/2012"
	require.Contains(t, strings.Join(validate(doc, table, body, "body"), "\n"), `body.as_of: "14/09/2012" is not a date`)
}
