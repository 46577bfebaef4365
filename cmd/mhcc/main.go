// Command mhcc compiles neural-network models that use mHC
// (manifold-constrained hyper-connections) from a YAML model file to ONNX.
//
//	mhcc compile model.yaml -o model.onnx
//	mhcc check model.yaml
//	mhcc ir model.yaml
//
// Exit status: 0 on success, 1 for a problem with the input (every problem is
// reported as file:line:col: key: message), 2 for an internal error.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/mhcc-dev/mhcc/internal/build"
	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "mhcc:", err)
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if build.IsInternal(err) {
		return 2
	}
	return 1
}

// An exitError carries its own exit status (mhcc diff: 1 = differs, 2 = error).
type exitError struct {
	error
	code int
}

func (e exitError) Unwrap() error { return e.error }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "mhcc",
		Short: "Compile mHC (manifold-constrained hyper-connection) models to ONNX",
		Long: `mhcc compiles neural networks that use mHC — n residual streams mixed per
token by a doubly-stochastic matrix computed with Sinkhorn-Knopp — from a YAML
model file to a valid, deterministic ONNX model.

The model file format is described in README.md ("The model file"); the
models under testdata/models/ are working examples.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newCompileCmd(), newCheckCmd(), newIRCmd(), newVerifyCmd(), newRunCmd(), newGenerateCmd(), newExportCmd(), newFmtCmd(), newDiffCmd(), newPassesCmd(), newTargetsCmd(), newInspectCmd(), newGraphCmd(), newVersionCmd())
	return root
}
