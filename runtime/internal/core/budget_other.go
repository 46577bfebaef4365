//go:build !linux

package core

// availableMemory is unknown here: DefaultMaxBytes falls back to 4 GiB.
func availableMemory() int64 { return 0 }
