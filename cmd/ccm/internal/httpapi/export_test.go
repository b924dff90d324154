package httpapi

// RouteAccess returns what each route needs, by "METHOD /path": "read",
// "write" or "open".
func RouteAccess() map[string]string {
	out := map[string]string{}
	for _, rt := range routes {
		out[rt.method+" "+rt.pattern] = rt.access.String()
	}
	return out
}
