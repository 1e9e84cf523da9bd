package tokenizer

// symbol is one node of the doubly linked list the merge loop works on.
type symbol struct {
	text       string
	id         int // token id (llama2.c); -1 when resolved after merging
	prev, next int
	gen        int32 // bumped on every change; -1 once merged away
}

// bigram is a candidate merge of two adjacent symbols.
type bigram struct {
	score       float64 // higher merges first
	left, right int
	lgen, rgen  int32
	id          int
}

// pairFunc says whether two adjacent symbol texts may merge, with the merge's
// priority (higher first) and the resulting token id (-1 if resolved later).
type pairFunc func(left, right string) (id int, score float64, ok bool)

// mergeSymbols repeatedly merges the best adjacent pair: highest score, and
// among equal scores the leftmost. That is the order of llama2.c's
// rescan-every-time loop and of llama.cpp's priority queues, done in
// O(n log n) with a heap and stale-entry checks. Afterwards the live symbols
// are reached from syms[0] by next.
func mergeSymbols(syms []symbol, pair pairFunc) {
	var h bigramHeap
	try := func(l, r int) {
		if l < 0 || r < 0 {
			return
		}
		id, score, ok := pair(syms[l].text, syms[r].text)
		if !ok {
			return
		}
		h.push(bigram{score: score, left: l, right: r, lgen: syms[l].gen, rgen: syms[r].gen, id: id})
	}
	for i := 1; i < len(syms); i++ {
		try(i-1, i)
	}
	for len(h) > 0 {
		b := h.pop()
		L, R := &syms[b.left], &syms[b.right]
		if L.gen != b.lgen || R.gen != b.rgen || L.next != b.right {
			continue // one side changed since this candidate was queued
		}
		L.text += R.text
		L.id = b.id
		L.gen++
		R.gen = -1
		L.next = R.next
		if R.next >= 0 {
			syms[R.next].prev = b.left
		}
		try(L.prev, b.left)
		try(b.left, L.next)
	}
}

// appendSymbol adds a symbol at the end of the list.
func appendSymbol(syms []symbol, text string, id int) []symbol {
	i := len(syms)
	if i > 0 {
		syms[i-1].next = i
	}
	return append(syms, symbol{text: text, id: id, prev: i - 1, next: -1})
}

// bigramHeap is a binary max-heap on (score, -left).
type bigramHeap []bigram

func (h bigramHeap) less(i, j int) bool { // i before j
	if h[i].score != h[j].score {
		return h[i].score > h[j].score
	}
	return h[i].left < h[j].left
}

func (h *bigramHeap) push(b bigram) {
	*h = append(*h, b)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *bigramHeap) pop() bigram {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && s.less(l, m) {
			m = l
		}
		if r < n && s.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}
