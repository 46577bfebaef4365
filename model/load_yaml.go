package model

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mhcc-dev/mhcc/ir"
	"go.yaml.in/yaml/v3"
)

// This file reads YAML nodes for load.go: a section is one mapping of the
// model file, and its typed getters report every value they reject.

// A section is one mapping of a model file, read into its keys. Reading it
// reports unknown and duplicate keys; the getters report bad values. A dead
// section (absent but required, or not a mapping) has been reported already:
// its getters find nothing and it reports no missing keys.
type section struct {
	l      *loader
	path   string // dotted path of the mapping; "" at the top level
	pos    ir.Pos // where the mapping is named: its key, or the mapping itself at the top level
	fields map[string]field
	dead   bool
}

// A field is one key of a section and its value.
type field struct {
	key *yaml.Node // the key
	val *yaml.Node // the value, aliases followed
	at  *yaml.Node // the value as written (an alias stays an alias), for positions
}

// section reads the mapping n named at pos. An absent n, or a null one if
// nullOK, is an empty mapping.
func (l *loader) section(path string, pos ir.Pos, n *yaml.Node, nullOK bool) *section {
	s := &section{l: l, path: path, pos: pos, fields: map[string]field{}}
	switch {
	case n == nil || nullOK && isNull(n):
		return s
	case n.Kind != yaml.MappingNode:
		l.errs.Add(l.pos(n), path, "got %s, want a mapping", describe(n))
		s.dead = true
		return s
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		s.add(n.Content[i], n.Content[i+1])
	}
	return s
}

// add records the key k with value v, or reports why it cannot.
func (s *section) add(k, v *yaml.Node) {
	kn := deref(k)
	if kn.Kind != yaml.ScalarNode {
		s.l.errs.Add(s.l.pos(k), s.path, "got %s as a key, want a name", describe(kn))
		return
	}
	name := kn.Value
	if kn.ShortTag() == "!!merge" {
		s.l.errs.Add(s.l.pos(k), s.path, "got a merge key (<<), want plain keys")
		return
	}
	if !slices.Contains(sectionKeys[s.path], name) {
		hint := ""
		if !s.l.errs.Full() { // a dropped message needs no suggestion
			hint = s.hint(name)
		}
		s.l.errs.Add(s.l.pos(k), s.path, "unknown key %s%s", quoteShort(name), hint)
		return
	}
	if first, ok := s.fields[name]; ok {
		s.l.errs.Add(s.l.pos(k), s.path, "duplicate key %q (first at line %d)", name, s.l.pos(first.key).Line)
		return
	}
	s.fields[name] = field{key: k, val: deref(v), at: v}
	s.l.m.KeyPos[s.key(name)] = s.l.pos(k)
}

// hint suggests a known key for the unknown one: a close spelling in this
// section, or the sections where the name is a key.
func (s *section) hint(name string) string {
	if h := didYouMean(name, sectionKeys[s.path]); h != "" {
		return h
	}
	var in []string
	for _, p := range sectionOrder {
		if p != s.path && slices.Contains(sectionKeys[p], name) {
			where := "in " + p
			if p == "" {
				where = "at the top level"
			}
			in = append(in, where)
		}
	}
	if len(in) == 0 {
		return ""
	}
	return "; it belongs " + strings.Join(in, " or ")
}

// sub reads the section under key name. A missing section is dead, unless
// optional; the caller has required it.
func (s *section) sub(name string, optional bool) *section {
	f, ok := s.field(name)
	if !ok {
		sub := s.l.section(s.key(name), ir.Pos{}, nil, false)
		sub.dead = !optional || s.dead
		return sub
	}
	return s.l.section(s.key(name), s.l.pos(f.key), f.val, optional)
}

// key is the dotted path of the key name in s.
func (s *section) key(name string) string {
	if s.path == "" {
		return name
	}
	return s.path + "." + name
}

// field returns the key name and its value, if present.
func (s *section) field(name string) (field, bool) {
	f, ok := s.fields[name]
	return f, ok
}

// absent reports whether the key name is missing, so that a default applies.
func (s *section) absent(name string) bool {
	_, ok := s.fields[name]
	return !ok
}

// errorf reports a problem with the value of key name.
func (s *section) errorf(f field, name, format string, args ...any) {
	s.l.errs.Add(s.l.pos(f.at), s.key(name), format, args...)
}

// require reports each of names that is missing, at the section's key; why
// completes the message.
func (s *section) require(why string, names ...string) {
	if s.dead {
		return
	}
	for _, name := range names {
		if s.absent(name) {
			s.l.errs.Add(s.pos, s.path, "missing key %q%s", name, why)
		}
	}
}

// forbid reports each of names that is present, at its key, and drops it so
// that its value is not checked as well; why completes "not allowed".
func (s *section) forbid(why string, names ...string) {
	for _, name := range names {
		if f, ok := s.field(name); ok {
			s.l.errs.Add(s.l.pos(f.key), s.key(name), "not allowed %s", why)
			delete(s.fields, name)
		}
	}
}

// integer reads the integer key name in [lo, hi]; ok is false when it is
// absent or bad. want names the allowed values, by default from lo.
func (s *section) integer(name string, lo, hi int64, want string) (v int64, ok bool) {
	f, ok := s.field(name)
	if !ok {
		return 0, false
	}
	if want == "" {
		want = wantInt(lo)
	}
	v, r := intValue(f.val)
	switch {
	case r == intNot:
		s.errorf(f, name, "got %s, want %s", describe(f.val), want)
	case r == intBelow || r == intOK && v < lo:
		s.errorf(f, name, "got %s, want %s", f.val.Value, want)
	case r == intAbove || v > hi:
		s.errorf(f, name, "got %s, want at most %d", f.val.Value, hi)
	default:
		return v, true
	}
	return 0, false
}

// intOr is integer with a default for an absent key.
func (s *section) intOr(name string, lo, hi, def int64) int64 {
	if s.absent(name) {
		return def
	}
	v, _ := s.integer(name, lo, hi, "")
	return v
}

// wantInt names the integers from lo up.
func wantInt(lo int64) string {
	switch lo {
	case 0:
		return "a non-negative integer"
	case 1:
		return "a positive integer"
	}
	return fmt.Sprintf("an integer ≥ %d", lo)
}

// size reads a size that is dynamic (0) or an integer in [1, hi].
func (s *section) size(name string, hi int64) (int, bool) {
	f, ok := s.field(name)
	if !ok {
		return 0, false
	}
	const want = "dynamic or a positive integer"
	if isString(f.val) {
		if f.val.Value == "dynamic" {
			return 0, true
		}
		s.errorf(f, name, "got %s, want %s%s", describe(f.val), want, didYouMean(f.val.Value, []string{"dynamic"}))
		return 0, false
	}
	v, ok := s.integer(name, 1, hi, want)
	return int(v), ok
}

// seed reads a non-negative 64-bit integer.
func (s *section) seed(name string) (uint64, bool) {
	f, ok := s.field(name)
	if !ok {
		return 0, false
	}
	v, r := intValue(f.val)
	var u uint64
	switch {
	case r == intNot:
		s.errorf(f, name, "got %s, want a non-negative integer", describe(f.val))
	case r == intBelow || r == intOK && v < 0:
		s.errorf(f, name, "got %s, want a non-negative integer", f.val.Value)
	case r == intOK:
		return uint64(v), true
	case f.val.ShortTag() == "!!int" && f.val.Decode(&u) == nil: // above the int64 range
		return u, true
	default:
		s.errorf(f, name, "got %s, want at most %d", f.val.Value, uint64(math.MaxUint64))
	}
	return 0, false
}

// numberOr reads a number in (0, hi], or def for an absent key.
func (s *section) numberOr(name string, hi, def float64) float64 {
	return s.rangeOr(name, false, hi, def)
}

// rangeOr reads a number in (0, hi], or [0, hi] when zero is allowed.
func (s *section) rangeOr(name string, zero bool, hi, def float64) float64 {
	f, ok := s.field(name)
	if !ok {
		return def
	}
	want := fmt.Sprintf("a number in (0, %g]", hi)
	if zero {
		want = fmt.Sprintf("a number in [0, %g]", hi)
	}
	tag := f.val.ShortTag()
	var v float64
	if f.val.Kind != yaml.ScalarNode || tag != "!!int" && tag != "!!float" || f.val.Decode(&v) != nil {
		s.errorf(f, name, "got %s, want %s", describe(f.val), want)
		return 0
	}
	if !(v > 0 && v <= hi || zero && v == 0) { // false for NaN too
		s.errorf(f, name, "got %s, want %s", f.val.Value, want)
		return 0
	}
	return v
}

// boolOr reads true or false, or def for an absent key.
func (s *section) boolOr(name string, def bool) bool {
	f, ok := s.field(name)
	if !ok {
		return def
	}
	var v bool
	if f.val.Kind != yaml.ScalarNode || f.val.ShortTag() != "!!bool" || f.val.Decode(&v) != nil {
		s.errorf(f, name, "got %s, want true or false", describe(f.val))
		return def
	}
	return v
}

// enum reads one of values, suggesting the nearest for a misspelling.
func (s *section) enum(name string, values ...string) (string, bool) {
	f, ok := s.field(name)
	if !ok {
		return "", false
	}
	if isString(f.val) && slices.Contains(values, f.val.Value) {
		return f.val.Value, true
	}
	hint := ""
	if isString(f.val) {
		hint = didYouMean(f.val.Value, values)
	}
	s.errorf(f, name, "got %s, want one of %s%s", describe(f.val), oneOf(values), hint)
	return "", false
}

// str reads a non-empty string; want names it in messages.
func (s *section) str(name, want string) (string, bool) {
	f, ok := s.field(name)
	if !ok {
		return "", false
	}
	if !isString(f.val) || f.val.Value == "" {
		s.errorf(f, name, "got %s, want %s", describe(f.val), want)
		return "", false
	}
	return f.val.Value, true
}

// How an integer scalar fits in an int64.
const (
	intOK    = iota
	intNot   // not an integer
	intBelow // an integer below the int64 range
	intAbove // an integer above the int64 range
)

// intLiteral matches an integer too large for yaml, which reads it as a float.
var intLiteral = regexp.MustCompile(`^[-+]?[0-9][0-9_]*$`)

// intValue reads n as an int64.
func intValue(n *yaml.Node) (int64, int) {
	if n.Kind != yaml.ScalarNode {
		return 0, intNot
	}
	switch n.ShortTag() {
	case "!!int":
		var v int64
		if err := n.Decode(&v); err == nil {
			return v, intOK
		}
		var u uint64
		if err := n.Decode(&u); err != nil {
			return 0, intNot // an explicit !!int tag on something else
		}
	case "!!float":
		if !intLiteral.MatchString(n.Value) {
			return 0, intNot
		}
	default:
		return 0, intNot
	}
	if strings.HasPrefix(n.Value, "-") {
		return 0, intBelow
	}
	return 0, intAbove
}

// deref follows aliases to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// isNull reports whether n is null, including an empty value.
func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// isString reports whether n is a string scalar (plain, quoted or tagged).
func isString(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str"
}

// describe names the value n for "got …" in messages: a number or boolean as
// written, a string quoted, anything else by its kind.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	case yaml.ScalarNode:
	default:
		return "nothing"
	}
	switch tag := n.ShortTag(); tag {
	case "!!null":
		return "null"
	case "!!str":
		return quoteShort(n.Value)
	case "!!int", "!!float", "!!bool":
		if len(n.Value) <= 40 && n.Style == 0 {
			return n.Value
		}
		return tag + " " + quoteShort(n.Value)
	case "":
		return quoteShort(n.Value)
	default:
		return strings.TrimPrefix(tag, "!!") + " " + quoteShort(n.Value)
	}
}

// quoteShort quotes s for a message, cut to 40 characters.
func quoteShort(s string) string {
	const limit = 40
	if utf8.RuneCountInString(s) <= limit {
		return strconv.Quote(s)
	}
	r := []rune(s)
	return strconv.Quote(string(r[:limit])) + "…"
}
