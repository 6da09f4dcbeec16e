//go:build linux

package jsonscan

import (
	"strings"
	"syscall"
	"testing"
)

// TestUnquoteAtPageEnd decodes and skips strings that end exactly where readable
// memory ends (the next page is PROT_NONE): a decoder that reads past the
// end of its input, as a 16-byte load near the end could, faults here
// instead of reading someone else's bytes unnoticed.
func TestUnquoteAtPageEnd(t *testing.T) {
	page := syscall.Getpagesize()
	mem, err := syscall.Mmap(-1, 0, 2*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skip("mmap:", err)
	}
	defer func() { _ = syscall.Munmap(mem) }()
	if err := syscall.Mprotect(mem[page:], syscall.PROT_NONE); err != nil {
		t.Skip("mprotect:", err)
	}
	for _, unit := range []string{`abc\ndef\t`, `\"x`, `\\`, `plain text without escapes, `, `\u00e9`} {
		for n := 0; n < 200; n++ {
			for _, end := range []string{`"`, `\n"`, ``, `\`} {
				body := `"\t` + strings.Repeat(unit, n/len(unit)+1)[:n] + end
				doc := mem[page-len(body) : page]
				copy(doc, body)
				want, wantErr := Skip(doc, 0)
				got, _, _, err := UnquoteAt(doc, 0, nil)
				if (err == nil) != (wantErr == nil) || (err == nil && got != want) {
					t.Fatalf("%q: UnquoteAt ends at %d (%v), Skip at %d (%v)", body, got, err, want, wantErr)
				}
				sameUnquote(t, doc, nil)
				if trusted := SkipTrusted(doc, 0); wantErr == nil && trusted != want {
					t.Fatalf("%q: SkipTrusted ends at %d, Skip at %d", body, trusted, want)
				}
			}
		}
	}
}
