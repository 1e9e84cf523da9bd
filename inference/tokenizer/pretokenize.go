package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// The pre-tokenizers below reproduce, alternative by alternative, what a
// backtracking regex engine returns for these patterns, scanning left to
// right and taking the first alternative that matches at each position:
//
//	GPT-2:  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//	Llama3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//	         ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//	Qwen2:  as Llama3 with \p{N} for \p{N}{1,3}
//
// Every character is matched by some alternative of these patterns, so the
// words always concatenate back to the input. They work on decoded runes but
// return byte slices of the input, so invalid UTF-8 (decoded as U+FFFD, a
// symbol: neither \s, \p{L} nor \p{N}) is kept byte for byte.

type runeText struct {
	s    string
	r    []rune
	offs []int // offs[i] is the byte offset of r[i]; offs[len(r)] == len(s)
}

func newRuneText(s string) runeText {
	rt := runeText{s: s, r: make([]rune, 0, len(s)), offs: make([]int, 0, len(s)+1)}
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		rt.r = append(rt.r, r)
		rt.offs = append(rt.offs, i)
		i += n
	}
	rt.offs = append(rt.offs, len(s))
	return rt
}

func isSpace(r rune) bool  { return unicode.IsSpace(r) }
func isLetter(r rune) bool { return unicode.IsLetter(r) }
func isNumber(r rune) bool { return unicode.IsNumber(r) }
func isOther(r rune) bool  { return !isSpace(r) && !isLetter(r) && !isNumber(r) }
func isCRLF(r rune) bool   { return r == '\r' || r == '\n' }

func lowerASCII(r rune) rune {
	if 'A' <= r && r <= 'Z' {
		return r + 'a' - 'A'
	}
	return r
}

// contraction matches 's|'t|'re|'ve|'m|'ll|'d at i, returning the end or -1.
func contraction(r []rune, i int, fold bool) int {
	if r[i] != '\'' || i+1 >= len(r) {
		return -1
	}
	at := func(k int) rune {
		if k >= len(r) {
			return 0
		}
		if fold {
			return lowerASCII(r[k])
		}
		return r[k]
	}
	switch c := at(i + 1); c {
	case 's', 't', 'm', 'd':
		return i + 2
	case 'r', 'v':
		if at(i+2) == 'e' {
			return i + 3
		}
	case 'l':
		if at(i+2) == 'l' {
			return i + 3
		}
	}
	return -1
}

// run returns the end of the run of class members starting at i.
func run(r []rune, i int, class func(rune) bool) int {
	for i < len(r) && class(r[i]) {
		i++
	}
	return i
}

// optSpaceRun matches " ?C+" at i.
func optSpaceRun(r []rune, i int, class func(rune) bool) int {
	j := i
	if r[j] == ' ' && j+1 < len(r) && class(r[j+1]) {
		j++
	}
	if !class(r[j]) {
		return -1
	}
	return run(r, j, class)
}

// spacesNotFollowed matches \s+(?!\S) at i: the whole run of spaces at the
// end of the text, else all of it but its last character (which then
// prefixes the next word); -1 for a single space before a non-space.
func spacesNotFollowed(r []rune, i int) int {
	k := run(r, i, isSpace)
	switch {
	case k == i:
		return -1
	case k == len(r):
		return k
	case k-i >= 2:
		return k - 1
	}
	return -1
}

// spaces matches \s+ at i.
func spaces(r []rune, i int) int {
	if k := run(r, i, isSpace); k > i {
		return k
	}
	return -1
}

// gpt2At matches the GPT-2 pattern at i.
func gpt2At(r []rune, i int) int {
	if e := contraction(r, i, false); e >= 0 {
		return e
	}
	for _, class := range []func(rune) bool{isLetter, isNumber, isOther} {
		if e := optSpaceRun(r, i, class); e >= 0 {
			return e
		}
	}
	if e := spacesNotFollowed(r, i); e >= 0 {
		return e
	}
	return spaces(r, i)
}

// llama3At matches the Llama 3 pattern (maxDigits 3) or Qwen2's (1) at i.
func llama3At(r []rune, i, maxDigits int) int {
	if e := contraction(r, i, true); e >= 0 {
		return e
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if isLetter(r[i]) {
		return run(r, i, isLetter)
	}
	if !isCRLF(r[i]) && !isNumber(r[i]) && i+1 < len(r) && isLetter(r[i+1]) {
		return run(r, i+1, isLetter)
	}
	// \p{N}{1,maxDigits}
	if isNumber(r[i]) {
		e := i + 1
		for e < len(r) && e-i < maxDigits && isNumber(r[e]) {
			e++
		}
		return e
	}
	// ' ?[^\s\p{L}\p{N}]+[\r\n]*'
	if e := optSpaceRun(r, i, isOther); e >= 0 {
		return run(r, e, isCRLF)
	}
	// \s*[\r\n]+ : backtracking leaves \s* just before the run's last
	// newline, and [\r\n]+ takes that newline alone.
	k := run(r, i, isSpace)
	for m := k - 1; m >= i; m-- {
		if isCRLF(r[m]) {
			return m + 1
		}
	}
	if e := spacesNotFollowed(r, i); e >= 0 {
		return e
	}
	return spaces(r, i)
}

// splitWith cuts s into the words that at(r, i) matches one after another.
func splitWith(s string, at func(r []rune, i int) int, words []string) []string {
	rt := newRuneText(s)
	for i := 0; i < len(rt.r); {
		e := at(rt.r, i)
		if e <= i { // unreachable: every character is matched
			e = i + 1
		}
		words = append(words, s[rt.offs[i]:rt.offs[e]])
		i = e
	}
	return words
}

func splitGPT2(s string) []string {
	return splitWith(s, gpt2At, nil)
}

func splitLlama3(s string) []string {
	return splitWith(s, func(r []rune, i int) int { return llama3At(r, i, 3) }, nil)
}

func splitQwen2(s string) []string {
	return splitWith(s, func(r []rune, i int) int { return llama3At(r, i, 1) }, nil)
}

// splitDigitsThenGPT2 makes every \p{N} character a word and splits the text
// between them with the GPT-2 pattern (which then sees each stretch's end as
// the end of the text), as llama.cpp applies its pattern list.
func splitDigitsThenGPT2(s string) []string {
	var words []string
	start := 0
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if isNumber(r) {
			if start < i {
				words = splitWith(s[start:i], gpt2At, words)
			}
			words = append(words, s[i:i+n])
			start = i + n
		}
		i += n
	}
	if start < len(s) {
		words = splitWith(s[start:], gpt2At, words)
	}
	return words
}
