package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mhcc-dev/mhcc/internal/testenv"
)

// TestMain lets the scripts in testdata/script run mhcc in-process.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"mhcc": func() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the command-line scripts of testdata/script/*.txtar:
// what a user types, and what they should see.
func TestScripts(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{Dir: "../../testdata/script", Setup: func(env *testscript.Env) error {
		// $REPO: the repository, for scripts that copy its test data.
		env.Setenv("REPO", root)
		return nil
	}})
}
