//go:build !wasip1

package main

// main is not used: the guest is built for wasip1 only.
func main() {}
