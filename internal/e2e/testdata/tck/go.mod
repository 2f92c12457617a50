module example.com/tck

go 1.26

require github.com/wasmroute/wasmroute v0.0.0

replace github.com/wasmroute/wasmroute => ../../../..
