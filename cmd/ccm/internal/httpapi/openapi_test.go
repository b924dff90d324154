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
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	var walk func(v any)
	n := 0
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				n++
				name, found := strings.CutPrefix(ref, "#/components/schemas/")
				assert.True(t, found, "ref %s points into components/schemas", ref)
				assert.Contains(t, schemas, name, "ref %s resolves", ref)
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
