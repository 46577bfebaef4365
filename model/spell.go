package model

import (
	"strings"
	"unicode"
)

// Nearest returns the candidate closest to name by Levenshtein distance, or
// "" when none is close enough to be a likely misspelling. Case, '_' and '-'
// are ignored when comparing, and a candidate is only suggested when fewer
// than about half of name's letters need an edit (as in starlark's
// spell.Nearest). Of equally close candidates the first wins.
func Nearest(name string, candidates []string) string {
	x := foldName(name)
	best, bestD := "", (len(x)+1)/2
	for _, c := range candidates {
		if d := levenshtein(x, foldName(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// foldName lowers s and drops the separators '_' and '-', so that
// "SinkhornIters" and "sinkhorn-iters" compare equal to "sinkhorn_iters".
func foldName(s string) []rune {
	var out []rune
	for _, r := range s {
		if r != '_' && r != '-' {
			out = append(out, unicode.ToLower(r))
		}
	}
	return out
}

// levenshtein is the number of single-rune insertions, deletions and
// substitutions that turn a into b.
func levenshtein(a, b []rune) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// didYouMean is the suffix `; did you mean "x"?` for the candidate nearest to
// name, or "" when there is none.
func didYouMean(name string, candidates []string) string {
	if s := Nearest(name, candidates); s != "" {
		return `; did you mean "` + s + `"?`
	}
	return ""
}

// oneOf lists enum values for a message: "mhc, residual".
func oneOf(values []string) string { return strings.Join(values, ", ") }
