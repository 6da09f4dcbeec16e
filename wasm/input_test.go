package wasm

import "testing"

func TestJoinText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		parts []string
		want  string
	}{
		{"one", []string{"a"}, "a"},
		{"two", []string{"a", "b"}, "a\nb"},
		{"empty first", []string{"", "b"}, "b"},
		{"empty last", []string{"a", ""}, "a\n"},
		{"three", []string{"x", "yy", "zzz"}, "x\nyy\nzzz"},
	}
	var in Input
	var texts [][]byte
	for _, tt := range tests {
		var text []byte
		for _, p := range tt.parts {
			text = in.JoinText(text, '\n', p)
		}
		texts = append(texts, text)
	}
	// Earlier results survive later joins, which grow (and move) the buffer.
	for i, tt := range tests {
		if string(texts[i]) != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, texts[i], tt.want)
		}
	}
	// A text that is not the latest result is copied, not overwritten.
	a := in.JoinText(nil, '\n', "a")
	b := in.JoinText(nil, '\n', "b")
	if ab := in.JoinText(a, ' ', "c"); string(ab) != "a c" || string(a) != "a" || string(b) != "b" {
		t.Fatalf("joined %q, earlier %q %q", ab, a, b)
	}
	// A text from elsewhere (a single part aliasing the body) is copied.
	body := []byte("body text")
	if got := in.JoinText(body[:4], '+', "x"); string(got) != "body+x" || string(body) != "body text" {
		t.Fatalf("joined %q, body %q", got, body)
	}
	in.Reset()
	if got := in.JoinText(nil, '\n', "after reset"); string(got) != "after reset" {
		t.Fatalf("after Reset: %q", got)
	}
}
