// Command guest is the conformance kit's own guest: it implements
// tck.Routes by calling the wasmroute host functions directly, without the
// Go SDK, as a guest in another language would. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o tck.wasm ./abi/tck/guest
//
// and serve it with a manifest that lists tck.Routes in order.
package main
