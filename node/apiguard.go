package node

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
)

// RefuseAPI says why the API listener refuses r, and with which status; 0
// and nil for a request to answer. Requests from web pages (with an Origin
// header) are refused, so that a page cannot drive the node; with token
// set, every request must carry "Authorization: Bearer <token>"; without
// one (a loopback listener), the Host must name loopback, so that a page
// on a DNS name rebound to this machine cannot read it either.
func RefuseAPI(token string, r *http.Request) (int, error) {
	switch {
	case token == "" && !LoopbackHost(r.Host):
		return http.StatusForbidden, fmt.Errorf("the API answers only requests to a loopback host, not %q", r.Host)
	case r.Header.Get("Origin") != "":
		return http.StatusForbidden, errors.New("the API does not answer web pages (request has an Origin header)")
	case token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+token)) != 1:
		return http.StatusUnauthorized, errors.New("missing or wrong API token: send Authorization: Bearer <API.Token from the repo config>")
	}
	return 0, nil
}
