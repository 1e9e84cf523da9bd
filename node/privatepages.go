package node

import (
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
)

// privatePages serves next only to requests whose Host header names
// loopback (see LoopbackHost) or one of hosts, with any port; any other
// request gets 403 saying why and how to allow its host. A page on a DNS
// name rebound to this machine sends its own name as the Host, so it
// cannot read what next serves.
func privatePages(hosts []string, next http.Handler) http.Handler {
	allowed := map[string]bool{}
	for _, h := range hosts {
		allowed[hostName(h)] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if LoopbackHost(r.Host) || allowed[hostName(r.Host)] {
			next.ServeHTTP(w, r)
			return
		}
		http.Error(w, fmt.Sprintf("%s is private to this node: the gateway serves it only under a loopback host (127.0.0.1, [::1], localhost) "+
			"or one listed in Gateway.PrivatePagesHosts of the repo config, not under %q; to allow that host, add it there and restart the daemon",
			r.URL.Path, r.Host), http.StatusForbidden)
	})
}

// LoopbackHost reports whether a Host header, with or without a port,
// names this machine: localhost or an IP address in 127.0.0.0/8 or ::1.
func LoopbackHost(hostport string) bool {
	host := hostName(hostport)
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hostName is the host of a Host header, without port or brackets, in a
// canonical form: an IP address as net.IP writes it, a name in lower case.
func hostName(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if ip := net.ParseIP(host); ip != nil {
		return ip.String()
	}
	return strings.ToLower(host)
}

// dnsName matches a DNS host name: dot-separated labels of letters,
// digits and inner hyphens.
var dnsName = regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)

// checkHosts checks that each of hosts is a bare host name or IP address.
func checkHosts(hosts []string) error {
	for _, h := range hosts {
		if net.ParseIP(h) == nil && (len(h) > 253 || !dnsName.MatchString(h)) {
			return fmt.Errorf("%q is not a host name or IP address (want one such as \"node.lan\" or \"192.168.1.5\", without scheme, port or path)", h)
		}
	}
	return nil
}
