package core

import (
	"fmt"
	"reflect"
	"strings"
)

// Messages quote attribute values and shapes, and a hostile model makes
// them as long as it likes: a Transpose with a 20-million-entry perm made a
// 169 MB error. errorf and failf print every slice argument longer than
// msgSliceMax as its first and last few elements and its length, and
// clipMsg cuts what is still too long.

// msgSliceMax is the longest slice a message prints whole.
const msgSliceMax = 16

// MsgMax is the longest message clipMsg keeps, in bytes.
const MsgMax = 2000

// shortArgs returns args with long slices replaced by a shortSlice.
func shortArgs(args []any) []any {
	out := args
	for i, a := range args {
		v := reflect.ValueOf(a)
		if v.Kind() != reflect.Slice || v.Len() <= msgSliceMax || v.Type().Elem().Kind() == reflect.Uint8 {
			continue
		}
		if &out[0] == &args[0] {
			out = append([]any{}, args...)
		}
		out[i] = shortSlice{v}
	}
	return out
}

// A shortSlice prints as "[a b c … y z] (N values)".
type shortSlice struct{ v reflect.Value }

func (s shortSlice) String() string {
	var b strings.Builder
	b.WriteByte('[')
	n := s.v.Len()
	for i := range 8 {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprint(&b, s.v.Index(i).Interface())
	}
	b.WriteString(" …")
	for i := n - 2; i < n; i++ {
		b.WriteByte(' ')
		fmt.Fprint(&b, s.v.Index(i).Interface())
	}
	fmt.Fprintf(&b, "] (%d values)", n)
	return b.String()
}

// Format makes %v, %d and %s print the short form.
func (s shortSlice) Format(f fmt.State, verb rune) { fmt.Fprint(f, s.String()) }

// ClipMsg cuts msg to msgMax bytes, saying how much was left out.
func ClipMsg(msg string) string {
	if len(msg) <= MsgMax {
		return msg
	}
	return strings.ToValidUTF8(msg[:MsgMax], "") + fmt.Sprintf("… (%d bytes more)", len(msg)-MsgMax)
}
