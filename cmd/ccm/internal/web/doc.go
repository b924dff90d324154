// Package web is the auditors' web view of `ccm serve`: pages rendered on
// the server from the same engine as the HTTP API and the command line
// (the Convention-wide tables, one row per State, a State's profile, the
// difference between two dates, the meetings, and charts drawn as SVG).
//
// It guarantees that:
//
//   - every page answers only what the API's Access allows for a read (the
//     same Host names and credentials; a browser signs in once with the
//     token and gets a read-only cookie, see httpapi.Gate);
//   - every page takes the API's as_of, known_at and annual_rule, so that a
//     link is a citation, and refuses a bad or unknown parameter with a 400
//     page that names it;
//   - nothing is loaded from another host: the stylesheet and the script
//     are embedded in the binary, and the Content-Security-Policy allows
//     this origin only, with no inline script;
//   - every page works without JavaScript (sorting and filtering by query
//     parameters); the script only sorts and filters in place and reloads
//     a page's data when the live fold reads a new event (server-sent
//     events from /events/stream).
//
// Mount puts the API and the pages behind one handler: /v1/, /healthz and
// /metrics stay the API's.
package web
