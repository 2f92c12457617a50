module example.com/probe

go 1.26.0

require (
	example.com/api v0.0.0
	github.com/wasmroute/wasmroute v0.0.0
)

replace (
	example.com/api => ../../../examples/api
	github.com/wasmroute/wasmroute => ../../..
)
