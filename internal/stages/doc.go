// Package stages has no code: its test checks the import directions between
// mhcc's stage packages (RATIONALE.md, "Package boundaries: stages").
package stages
