// Package passes transforms mhcc's IR between lowering and export.
//
// # Passes and the pipeline
//
// A [Pass] is a value with a name, a one-line doc and a Run function.
// [Pipeline] is the default order, one row per pass with the reason it sits
// there. [Run] applies passes with the options of a [Config]: ir.Verify after
// each pass, passes disabled by name, a text-IR dump per pass, statistics.
// A pass that fails or panics is reported with its name.
package passes
