// Command mhcc compiles neural-network models that use mHC
// (manifold-constrained hyper-connections) from a YAML model file to ONNX.
//
//	mhcc compile model.yaml -o model.onnx
//	mhcc check model.yaml
//	mhcc ir model.yaml
//
// Exit status: 0 on success, 1 for a problem with the input (every problem is
// reported as file:line:col: key: message), 2 for a usage error (usage.go)
// or an internal error. mhcc diff: 1 = the models differ, 2 = could not
// compare.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/internal/atomicfile"
	"github.com/spf13/cobra"
)

func main() {
	catchSignals()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// catchSignals makes SIGINT and SIGTERM remove the temporary files of
// unfinished outputs (a large compile's data file can be hundreds of MB)
// before mhcc exits with 128 + the signal's number (130, 143), as a shell
// reports a process the signal killed. A group of renames in progress (a
// model and its data file) is finished first, so an existing output is
// either left as it was or wholly replaced. SIGKILL cannot be caught: the
// next write to the same output sweeps what it left (atomicfile.Sweep).
func catchSignals() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-ch
		n := atomicfile.RemoveTemporaries()
		if n > 0 {
			fmt.Fprintf(os.Stderr, "mhcc: %v: stopped; removed %d unfinished file(s)\n", sig, n)
		} else {
			fmt.Fprintf(os.Stderr, "mhcc: %v: stopped\n", sig)
		}
		code := 130
		if s, ok := sig.(syscall.Signal); ok {
			code = 128 + int(s)
		}
		os.Exit(code)
	}()
}

// run executes the command line args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	markUsageErrors(root, args)
	err := findCommand(root, args)
	if err == nil {
		err = root.Execute()
	}
	if err == nil {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", ue.cmd.CommandPath(), err, ue.cmd.CommandPath())
		return 2
	}
	fmt.Fprintln(stderr, "mhcc:", clipErrorText(err.Error()))
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if compile.IsInternal(err) {
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
models under testdata/models/ are working examples.

Exit status, for every command:
  0  success
  1  a problem with the input: a model file, weights, profile or ONNX file
     that is wrong or missing, or a flag value that names nothing valid
     (--target tpu); check found problems; verify failed; diff: the models
     differ
  2  a usage error: an unknown command or flag, a flag value that does not
     parse as its type, the wrong number of arguments; or an internal
     error; diff: could not compare`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newCompileCmd(), newCheckCmd(), newIRCmd(), newVerifyCmd(), newRunCmd(), newGenerateCmd(), newExportCmd(), newFmtCmd(), newDiffCmd(), newPassesCmd(), newTargetsCmd(), newInspectCmd(), newGraphCmd(), newNamesCmd(), newImportCmd(), newVersionCmd())
	return root
}
