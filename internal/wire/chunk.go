package wire

import (
	"bytes"

	"github.com/aigateway/gateway/internal/jsonscan"
)

var dataPrefix = []byte("data:")

// NextChunk walks one OpenAI chat-completion SSE event (its lines, as the
// relay hands them over) to its next chunk: the next `data:` line (the space after the colon optional, as in the SSE
// format) holding a
// valid JSON object. It returns the chunk and the rest of the event to walk
// on, or done when the walk reached `data: [DONE]`; chunk is nil when the
// event holds no more chunks. Comments, other fields and data that is not
// an object are skipped. It allocates nothing.
func NextChunk(ev []byte) (chunk, rest []byte, done bool) {
	for len(ev) > 0 {
		line := ev
		if i := bytes.IndexByte(ev, '\n'); i >= 0 {
			line, ev = ev[:i], ev[i+1:]
		} else {
			ev = nil
		}
		data, ok := bytes.CutPrefix(line, dataPrefix)
		if !ok {
			continue
		}
		data = TrimSpace(data)
		if string(data) == "[DONE]" {
			return nil, ev, true
		}
		if jsonscan.Validate(data) == nil && jsonscan.KindOf(data) == jsonscan.Object {
			return data, ev, false
		}
	}
	return nil, nil, false
}
