package httpapi_test

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/cmd/ccm/internal/httpapi"
)

// TestOpenAPIMatchesRoutes checks that every route is documented and every
// documented operation is routed, and that the document is served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(httpapi.OpenAPI(), &doc), "openapi.json is JSON")
	assert.Equal(t, "3.1.0", doc.OpenAPI)
	var documented []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
			var o struct {
				OperationID string                     `json:"operationId"`
				Responses   map[string]json.RawMessage `json:"responses"`
			}
			require.NoError(t, json.Unmarshal(op, &o))
			assert.NotEmpty(t, o.OperationID, "%s %s has an operationId", method, path)
			assert.NotEmpty(t, o.Responses, "%s %s documents its responses", method, path)
		}
	}
	routed := httpapi.Routes()
	sort.Strings(documented)
	sort.Strings(routed)
	assert.Equal(t, routed, documented, "documented operations = routed operations")

	f := newFixture(t)
	r := f.get(t, "/v1/openapi.json")
	require.Equal(t, http.StatusOK, r.code)
	assert.JSONEq(t, string(httpapi.OpenAPI()), string(r.body), "served as is")
}

// TestOpenAPIReferences checks that every $ref of the document resolves.
func TestOpenAPIReferences(t *testing.T) {
	var doc map[string]any
	require.NoError(t, json.Unmarshal(httpapi.OpenAPI(), &doc))
	components := doc["components"].(map[string]any)
	var walk func(v any)
	n := 0
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				n++
				kind, name, found := strings.Cut(strings.TrimPrefix(ref, "#/components/"), "/")
				require.True(t, found, "ref %s points into components", ref)
				assert.Contains(t, []string{"schemas", "responses", "headers"}, kind, "ref %s", ref)
				section, _ := components[kind].(map[string]any)
				assert.Contains(t, section, name, "ref %s resolves", ref)
			}
			for _, y := range x {
				walk(y)
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		}
	}
	walk(doc)
	assert.Positive(t, n)
}

// TestOpenAPISecurity checks that the document declares the security the
// server enforces: writes need the bearer token or mutual TLS, reads may
// (the {} alternative: open on loopback or with --http-public-reads), the
// health check never; and that each operation documents the refusals it
// can meet.
func TestOpenAPISecurity(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			Security  []map[string][]string      `json:"security"`
			Responses map[string]json.RawMessage `json:"responses"`
		} `json:"paths"`
		Components struct {
			SecuritySchemes map[string]struct {
				Type   string `json:"type"`
				Scheme string `json:"scheme"`
			} `json:"securitySchemes"`
			Schemas struct {
				ErrorBody struct {
					Properties struct {
						Error struct {
							Properties struct {
								Code struct {
									Enum []string `json:"enum"`
								} `json:"code"`
							} `json:"properties"`
						} `json:"error"`
					} `json:"properties"`
				} `json:"ErrorBody"`
			} `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(httpapi.OpenAPI(), &doc))
	schemes := doc.Components.SecuritySchemes
	assert.Equal(t, "http", schemes["bearer"].Type)
	assert.Equal(t, "bearer", schemes["bearer"].Scheme)
	assert.Equal(t, "mutualTLS", schemes["mutualTLS"].Type)

	credential := []map[string][]string{{"bearer": {}}, {"mutualTLS": {}}}
	want := map[string]struct {
		security  []map[string][]string
		responses []string
	}{
		"write": {credential, []string{"401", "403", "409", "421"}},
		"read":  {append([]map[string][]string{{}}, credential...), []string{"401", "421"}},
		"open":  {[]map[string][]string{}, []string{"421"}},
	}
	for route, access := range httpapi.RouteAccess() {
		method, path, _ := strings.Cut(route, " ")
		op, ok := doc.Paths[path][strings.ToLower(method)]
		require.True(t, ok, "%s is documented", route)
		w := want[access]
		require.NotNil(t, op.Security, "%s declares its security", route)
		assert.Equal(t, w.security, op.Security, "%s (%s): security", route, access)
		for _, code := range w.responses {
			assert.Contains(t, op.Responses, code, "%s (%s) documents %s", route, access, code)
		}
		if access != "write" {
			assert.NotContains(t, op.Responses, "403", "%s: only writes are refused by read-only mode or origin", route)
		}
	}

	codes := []string{
		httpapi.CodeBadRequest, httpapi.CodeMalformed, httpapi.CodeUnauthorized, httpapi.CodeReadOnly,
		httpapi.CodeCrossOrigin, httpapi.CodeNotFound, httpapi.CodeMethodNotAllowed, httpapi.CodeConflict,
		httpapi.CodeIDConflict, httpapi.CodeTooLarge, httpapi.CodeUnsupportedType, httpapi.CodeUnknownHost,
		httpapi.CodeInvalid, httpapi.CodeRejected, httpapi.CodeInternal, httpapi.CodeUnavailable,
	}
	assert.ElementsMatch(t, codes, doc.Components.Schemas.ErrorBody.Properties.Error.Properties.Code.Enum, "every error code is documented, and only those")
}
