//go:build race

package runtime_test

// raceEnabled: the race detector's sync.Pool drops a share of what is put
// back, on purpose, so allocation counts under -race say nothing about
// the pools; the allocation tests run in the other builds.
const raceEnabled = true
