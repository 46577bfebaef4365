package core

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Every unsupported op at once. A graph exported from ordinary torch code may
// use several ops the runtime lacks, and someone deciding whether to add them
// (or to change the export) needs the whole list, not the first of "N more
// errors". Decode keeps checking after a node without a kernel; an
// opError marks those errors so that errorList's message can list their op
// types, deduplicated and counted, Loop bodies and If branches included.

// An OpError is a node whose op has no kernel at the imported opset.
type OpError struct {
	Op  string // domain-qualified op type: "SplitToSequence", "com.microsoft.Foo"
	At  string // "" or the opset the model imports, when other opsets have a kernel
	Err error  // the message naming the node
}

func (e *OpError) Error() string { return e.Err.Error() }

// A NestedError is a problem inside a node's subgraph, which keeps the
// subgraph's errors for the unsupported-op summary.
type NestedError struct {
	Msg   string
	Inner error
}

func (e *NestedError) Error() string { return e.Msg }
func (e *NestedError) Unwrap() error { return e.Inner }

// unsupported is what unsupportedOps found.
type unsupported struct {
	count      map[string]int // op (with the opset when others have a kernel) → nodes
	firstOp    error
	others     int // other errors
	firstOther error
}

// unsupportedOps walks err (error lists and nested subgraph errors).
func unsupportedOps(err error) unsupported {
	u := unsupported{count: map[string]int{}}
	var walk func(e error)
	walk = func(e error) {
		switch x := e.(type) {
		case *OpError:
			key := x.Op
			if x.At != "" {
				key += " at opset " + x.At
			}
			u.count[key]++
			if u.firstOp == nil {
				u.firstOp = x
			}
			return
		case *NestedError:
			if x.Inner != nil {
				walk(x.Inner)
				return
			}
		case interface{ Unwrap() []error }:
			for _, y := range x.Unwrap() {
				walk(y)
			}
			return
		case interface{ Unwrap() error }: // a caller's fmt.Errorf("…: %w", err)
			if y := x.Unwrap(); y != nil {
				walk(y)
				return
			}
		}
		u.others++
		if u.firstOther == nil {
			u.firstOther = e
		}
	}
	walk(err)
	return u
}

// message is errorList's message when ops are missing: every op type, with
// its node count, then the other errors.
func (u unsupported) message() string {
	var b strings.Builder
	ops := slices.Sorted(maps.Keys(u.count))
	fmt.Fprintf(&b, "runtime: no kernel for %d op type", len(ops))
	if len(ops) > 1 {
		b.WriteString("s")
	}
	b.WriteString(": ")
	for i, op := range ops {
		if i > 0 {
			b.WriteString(", ")
		}
		unit := "nodes"
		if u.count[op] == 1 {
			unit = "node"
		}
		fmt.Fprintf(&b, "%s (%d %s)", op, u.count[op], unit)
	}
	fmt.Fprintf(&b, " [first: %s]", strings.TrimPrefix(u.firstOp.Error(), "runtime: "))
	switch u.others {
	case 0:
	case 1:
		fmt.Fprintf(&b, "; and 1 other error: %s", strings.TrimPrefix(u.firstOther.Error(), "runtime: "))
	default:
		fmt.Fprintf(&b, "; and %d other errors, the first: %s", u.others, strings.TrimPrefix(u.firstOther.Error(), "runtime: "))
	}
	return b.String()
}

// nodes is the number of nodes without a kernel.
func (u unsupported) nodes() int {
	n := 0
	for _, c := range u.count {
		n += c
	}
	return n
}

// UnsupportedOps returns the op types (domain-qualified; "Split at opset
// 22" when other opsets have a kernel) that an error of Decode reports as
// having no kernel, with their node counts; nil if there are none.
func UnsupportedOps(err error) map[string]int {
	if err == nil {
		return nil
	}
	u := unsupportedOps(err)
	if len(u.count) == 0 {
		return nil
	}
	return u.count
}
