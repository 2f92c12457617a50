//go:build race

package e2e

// raceEnabled is whether the race detector is on: its shadow memory makes
// resident-memory figures meaningless.
const raceEnabled = true
