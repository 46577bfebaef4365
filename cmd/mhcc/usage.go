package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// A usageError is a command line mhcc cannot make sense of: an unknown
// command or flag, a flag without its value or with one that does not parse
// as the flag's type, or the wrong number of arguments. It exits 2 for every
// command (RATIONALE.md: "Why do usage errors exit 2?"). A well-formed value
// that names nothing valid (--target tpu, a missing file) is a problem with
// the input instead, exit 1.
type usageError struct {
	error
	cmd *cobra.Command
}

func (e usageError) Unwrap() error { return e.error }

// markUsageErrors makes every way cobra rejects a command line return a
// usageError, for root and every command under it, including cobra's own
// help and completion commands (added here, before the walk, rather than
// by Execute). args is the command line, which cobra's completion command
// wants to see.
func markUsageErrors(root *cobra.Command, args []string) {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd(args...)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{err, c}
	})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() == "help" && c.Args == nil {
			// cobra's help prints "Unknown help topic" and exits 0.
			c.Args = func(c *cobra.Command, args []string) error {
				if _, _, err := c.Root().Find(args); err != nil {
					return usageError{fmt.Errorf("unknown help topic %q", strings.Join(args, " ")), c}
				}
				return nil
			}
		}
		if check := c.Args; check != nil {
			c.Args = func(c *cobra.Command, args []string) error {
				err := check(c, args)
				if _, ok := err.(usageError); err != nil && !ok {
					err = usageError{err, c}
				}
				return err
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// findCommand is cobra's lookup of the command args name. Its only error
// is an unknown command under root (cobra checks that before any flag or
// Args function runs), so it is a usageError. A command that only groups
// others (completion) gets its arguments checked here: cobra prints its
// help and exits 0 before it would run its Args.
func findCommand(root *cobra.Command, args []string) error {
	if len(args) > 0 && (args[0] == cobra.ShellCompRequestCmd || args[0] == cobra.ShellCompNoDescRequestCmd) {
		return nil // the shell asking for completions; Execute adds the command
	}
	c, rest, err := root.Find(args)
	if err != nil {
		if c == nil {
			c = root
		}
		return usageError{err, c}
	}
	if c != root && !c.Runnable() && c.Args != nil && c.ParseFlags(rest) == nil {
		return c.Args(c, c.Flags().Args())
	}
	return nil
}
