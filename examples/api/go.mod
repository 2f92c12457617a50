module example.com/api

go 1.26.0

require (
	github.com/stealthrocket/net v0.2.1
	github.com/wasmroute/wasmroute v0.0.0
	golang.org/x/crypto/x509roots/fallback v0.0.0-20261030153154-30a33513ff6d
)

replace github.com/wasmroute/wasmroute => ../..
