// Package docscheck holds only tests: they keep the repository's
// documentation true to the code and self-contained. docs/spec.md's
// metadata_props table must match what the exporter writes, and no file may
// link or refer to a document outside the repository (the specification
// used to live in a folder next to it, which a clone does not have), and
// every relative link in a Markdown file must name a file that exists.
//
// The model-file and weight tables of docs/spec.md are checked in package
// ir (spec_doc_test.go), next to the unexported key list they compare with.
package docscheck
