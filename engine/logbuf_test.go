package engine

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogWriterFlushes(t *testing.T) {
	t.Parallel()
	var out syncBuf
	l := NewLogWriter(&out, 10*time.Millisecond)
	_, _ = l.Write([]byte("line one\n"))
	waitFor(t, "the periodic flush", func() bool { return out.String() == "line one\n" })
	_, _ = l.Write([]byte("line two\n"))
	_ = l.Close()
	if out.String() != "line one\nline two\n" {
		t.Fatalf("Close did not flush: %q", out.String())
	}
}
