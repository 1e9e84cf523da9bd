// Package interop holds the tests and benchmarks that run accel daemons
// beside real Kubo (ipfs) daemons on 127.0.0.1: CAR round trips, bitswap
// both ways, and the transfer benchmark against Kubo.
//
// The tests build cmd/accel and look for Kubo's ipfs in $KUBO_BIN or
// $GOPATH/bin/ipfs (scripts/install-kubo.sh builds it there). Without it they
// skip, unless ACCEL_REQUIRE_KUBO=1, when they fail. The benchmark:
//
//	go test ./interop/ -run '^$' -bench TransferVsKubo -benchtime 1x
package interop
