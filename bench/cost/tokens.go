package cost

import (
	"crypto/sha256"
	"sync"

	"github.com/pkoukk/tiktoken-go"
	tiktokenloader "github.com/pkoukk/tiktoken-go-loader"
)

// Tokenizer counts tokens with o200k_base (GPT-4o's BPE), loaded from the
// ranks embedded in tiktoken-go-loader: no network. Anthropic's tokenizer is
// not public; the fakes use o200k_base for both providers, so the baseline and
// the gateway are measured with the same ruler.
//
// # Notes
//
// Encodings are memoised by the SHA-256 of the text: a trace re-sends the same
// system prompts, tool definitions and files on every turn, and tiktoken-go
// runs at a few MB/s. Safe for concurrent use.
type Tokenizer struct {
	enc  *tiktoken.Tiktoken
	mu   sync.Mutex
	memo map[[32]byte][]int
}

var (
	tokOnce sync.Once
	tokEnc  *tiktoken.Tiktoken
	tokErr  error
)

// NewTokenizer returns a Tokenizer over the shared o200k_base encoding.
func NewTokenizer() (*Tokenizer, error) {
	tokOnce.Do(func() {
		tiktoken.SetBpeLoader(tiktokenloader.NewOfflineLoader())
		tokEnc, tokErr = tiktoken.GetEncoding("o200k_base")
	})
	if tokErr != nil {
		return nil, tokErr
	}
	return &Tokenizer{enc: tokEnc, memo: map[[32]byte][]int{}}, nil
}

// Encode returns the token ids of s. The slice is shared: do not modify it.
func (t *Tokenizer) Encode(s string) []int {
	if s == "" {
		return nil
	}
	k := sha256.Sum256([]byte(s))
	t.mu.Lock()
	ids, ok := t.memo[k]
	t.mu.Unlock()
	if ok {
		return ids
	}
	// Special-token strings in the text ("<|endoftext|>") are encoded as
	// ordinary text, as a provider does with user content.
	ids = t.enc.Encode(s, nil, nil)
	t.mu.Lock()
	t.memo[k] = ids
	t.mu.Unlock()
	return ids
}

// Count returns the number of tokens of s.
func (t *Tokenizer) Count(s string) int { return len(t.Encode(s)) }
