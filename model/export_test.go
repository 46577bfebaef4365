package model

// Internals for the external tests (fuzz_test.go).
var (
	CheckInvariants = checkInvariants
	ApproxParams    = approxParams
)
