module example.com/faulty

go 1.26

require (
	github.com/stealthrocket/net v0.2.1
	github.com/wasmroute/wasmroute v0.0.0
)

replace github.com/wasmroute/wasmroute => ../../../..
