package accounting

import (
	"bytes"
	"sync"

	"github.com/aigateway/gateway/internal/unsafeconv"
	"github.com/pkoukk/tiktoken-go"
	tiktokenloader "github.com/pkoukk/tiktoken-go-loader"
)

// Token counting for the savings of prompt-editing policies uses a real BPE
// tokenizer (o200k_base, GPT-4o's), loaded from the ranks embedded in the
// binary on the first count: no network, and none of its 22 MB of rank
// tables until a policy first removes text. It runs only on requests a
// policy changed (only on the changed messages), and never before the answer
// leaves: the texts are copied when the edits are applied (RemovedText.Add)
// and counted by the Accountant after the answer was sent.
var (
	tokOnce sync.Once
	tok     *tiktoken.Tiktoken
)

func tokenizer() *tiktoken.Tiktoken {
	tokOnce.Do(func() {
		tiktoken.SetBpeLoader(tiktokenloader.NewOfflineLoader())
		if enc, err := tiktoken.GetEncoding("o200k_base"); err == nil {
			tok = enc
		}
	})
	return tok
}

// CountTokens counts s's tokens with o200k_base (about 10 µs a token; the
// first call loads the ranks, 0.9 s): never on a request's critical path.
func CountTokens(s string) int {
	t := tokenizer()
	if t == nil {
		return (len(s) + 3) / 4
	}
	return len(t.Encode(s, nil, nil))
}

// RemovedText keeps what the token count of the request-stage policies'
// removals needs, copied: the request is decoded again from the edited body
// and the policies' output is reset before the route stage, so neither the
// original texts nor the edited ones outlive the edit where they are.
//
// # Notes
//
// The zero value is ready; a RemovedText is not safe for concurrent use.
type RemovedText struct {
	// buf holds, for each changed message, its original text then its
	// edited text; ends are their end offsets, two per message.
	buf  []byte
	ends []int
	// strip and dedup are the bytes the policies reported removing of each
	// kind (report_removed, ABI v1.1): they split the tokens between the two
	// techniques, whichever policy reported them, built-in or uploaded.
	strip, dedup int64
}

// removedTextKeep bounds the buffer a pooled RemovedText keeps between
// requests.
const removedTextKeep = 256 << 10

// Reset empties r for the next request.
func (r *RemovedText) Reset() {
	if cap(r.buf) > removedTextKeep {
		r.buf = nil
	}
	r.buf, r.ends, r.strip, r.dedup = r.buf[:0], r.ends[:0], 0, 0
}

// Pending reports whether there are tokens to count.
func (r *RemovedText) Pending() bool { return len(r.ends) > 0 }

// Begin resets r for a request whose policies reported removing strip bytes
// of boilerplate and dedup bytes of duplicate files. It reports whether the
// changed messages must be added: nothing is kept when the policies removed
// nothing (a skill's template only adds text), as there is no saving.
func (r *RemovedText) Begin(strip, dedup int64) bool {
	r.Reset()
	r.strip, r.dedup = strip, dedup
	return strip+dedup > 0
}

// Add copies the lines of one changed message that its edit touched, from
// its original text before and its edited text after.
func (r *RemovedText) Add(before, after []byte) {
	before, after = changedLines(before, after)
	r.buf = append(r.buf, before...)
	r.ends = append(r.ends, len(r.buf))
	r.buf = append(r.buf, after...)
	r.ends = append(r.ends, len(r.buf))
}

// changedLines trims the lines before and after share at their start and
// at their end, and returns what is left of each: the lines an edit touched.
// BPE pre-tokenisation never joins text across a line break into one token,
// so the token counts of the two remainders differ by what the two texts'
// counts differ by (to a token at each cut), while the tokenizer, at about
// 10 µs a token, reads only the edited lines: stripping a marker from a
// 100 KiB prompt counts a few tokens, not 2 × 34,000.
func changedLines(before, after []byte) ([]byte, []byte) {
	n := min(len(before), len(after))
	p := 0
	for p < n && before[p] == after[p] {
		p++
	}
	if p == len(before) && p == len(after) {
		return nil, nil
	}
	s := 0
	for s < n-p && before[len(before)-1-s] == after[len(after)-1-s] {
		s++
	}
	// Back to the start of the line the first difference is on.
	for p > 0 && before[p-1] != '\n' {
		p--
	}
	// Forward to the end of the line the last difference is on: the
	// shared tail starts after a line break.
	tail := before[len(before)-s:]
	if i := bytes.IndexByte(tail, '\n'); i >= 0 {
		s -= i + 1
	} else {
		s = 0
	}
	return before[p : len(before)-s], after[p : len(after)-s]
}

// Count returns the tokens the policies removed, attributed to boilerplate
// stripping and to file dedup: for every changed message, the original's
// tokens minus the edited text's (never negative: added text is not a
// saving), split by the bytes reported removed of each kind.
func (r *RemovedText) Count() (strip, dedup int) {
	total, start := 0, 0
	for i := 0; i+1 < len(r.ends); i += 2 {
		before := CountTokens(unsafeconv.String(r.buf[start:r.ends[i]]))
		after := CountTokens(unsafeconv.String(r.buf[r.ends[i]:r.ends[i+1]]))
		start = r.ends[i+1]
		if before > after {
			total += before - after
		}
	}
	sb, db := r.strip, r.dedup
	switch {
	case total == 0 || sb+db <= 0:
		return 0, 0
	case db == 0:
		return total, 0
	case sb == 0:
		return 0, total
	}
	strip = int(int64(total) * sb / (sb + db))
	return strip, total - strip
}
