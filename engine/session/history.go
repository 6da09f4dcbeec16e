package session

import (
	"bytes"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
)

// A stored history is the JSON object {"messages":[…]}: the messages as the
// client and the model wrote them, before any request policy rewrote them
// (the policies run again on every turn), so that it decodes like a
// request.

// Encode appends the stored form of msgs (raw message objects) to dst.
func Encode(dst []byte, msgs [][]byte) []byte {
	dst = append(dst, `{"messages":[`...)
	for i, m := range msgs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, m...)
	}
	return append(dst, "]}"...)
}

// Raw returns the raw bytes of r's messages, views of r.Body.
func Raw(r *providers.Request) [][]byte {
	out := make([][]byte, len(r.Messages))
	for i := range r.Messages {
		s := r.Messages[i].Span
		out[i] = r.Body[s.Start:s.End]
	}
	return out
}

// fingerprint identifies a message by what the model reads of it, not by
// its bytes: a client that re-serialises its history (other white space,
// member order, null versus "" content) still matches.
func fingerprint(m *providers.Message) string {
	var b []byte
	b = append(append(b, m.Role...), 0)
	b = append(append(b, m.Text()...), 0)
	b = append(append(b, m.ToolCallID...), 0)
	for _, tc := range m.ToolCalls {
		b = append(append(append(append(append(append(b, tc.ID...), 0), tc.Name...), 0), tc.Arguments...), 0)
	}
	return string(b)
}

func isSystem(m *providers.Message) bool { return m.Role == "system" || m.Role == "developer" }

// Merge decides how request req continues the stored history: resent when
// the client sent its history itself (the request goes as it is), else the
// messages to send: the request's system messages when it has any, the
// stored ones otherwise, then the stored conversation, then the request's
// new turn. The returned slices view stored.Body and req.Body.
func Merge(stored, req *providers.Request) (msgs [][]byte, resent bool) {
	if stored == nil || len(stored.Messages) == 0 {
		return Raw(req), true
	}
	if resends(stored, req) {
		return Raw(req), true
	}
	reqSys := false
	for i := range req.Messages {
		reqSys = reqSys || isSystem(&req.Messages[i])
	}
	sraw, rraw := Raw(stored), Raw(req)
	for i := range stored.Messages {
		if isSystem(&stored.Messages[i]) && !reqSys {
			msgs = append(msgs, sraw[i])
		}
	}
	for i := range req.Messages {
		if isSystem(&req.Messages[i]) {
			msgs = append(msgs, rraw[i])
		}
	}
	for i := range stored.Messages {
		if !isSystem(&stored.Messages[i]) {
			msgs = append(msgs, sraw[i])
		}
	}
	for i := range req.Messages {
		if !isSystem(&req.Messages[i]) {
			msgs = append(msgs, rraw[i])
		}
	}
	return msgs, false
}

// resends reports whether req carries the stored conversation already: it
// opens with the stored opening and is at least as long, or it contains the
// stored last message (the model's last answer).
func resends(stored, req *providers.Request) bool {
	first := func(r *providers.Request) (*providers.Message, int) {
		var f *providers.Message
		n := 0
		for i := range r.Messages {
			if !isSystem(&r.Messages[i]) {
				if f == nil {
					f = &r.Messages[i]
				}
				n++
			}
		}
		return f, n
	}
	sf, sn := first(stored)
	rf, rn := first(req)
	if sf == nil || rf == nil {
		return false
	}
	if rn >= sn && fingerprint(sf) == fingerprint(rf) && sn > 0 && (sn > 1 || rn > 1) {
		return true
	}
	last := fingerprint(&stored.Messages[len(stored.Messages)-1])
	for i := range req.Messages {
		if fingerprint(&req.Messages[i]) == last {
			return true
		}
	}
	return false
}

// Trim drops the oldest non-system messages of msgs (decoded as r) until
// at most maxMessages and maxBytes remain, then any that would open the
// kept conversation with something else than a user message (a tool result
// without its call, an answer without its question).
func Trim(r *providers.Request, msgs [][]byte, maxMessages, maxBytes int) [][]byte {
	size := 2
	for _, m := range msgs {
		size += len(m) + 1
	}
	drop := map[int]bool{}
	n := len(msgs)
	i := 0
	for ; i < len(msgs) && (n > maxMessages || size > maxBytes); i++ {
		if isSystem(&r.Messages[i]) {
			continue
		}
		drop[i] = true
		n--
		size -= len(msgs[i]) + 1
	}
	if len(drop) > 0 {
		for ; i < len(msgs) && (isSystem(&r.Messages[i]) || r.Messages[i].Role != "user"); i++ {
			if !isSystem(&r.Messages[i]) {
				drop[i] = true
			}
		}
	}
	if len(drop) == 0 {
		return msgs
	}
	out := msgs[:0:0]
	for j, m := range msgs {
		if !drop[j] {
			out = append(out, m)
		}
	}
	return out
}

// AnswerMessage appends to dst the assistant message of an OpenAI chat
// completion body (choices[0].message), as a request message: its role,
// content and tool calls, without the members only answers carry
// (refusal, annotations). ok is false when the body has no message.
func AnswerMessage(dst, completion []byte) ([]byte, bool) {
	choices := jsonscan.Get(completion, "choices")
	var msg []byte
	_ = jsonscan.ArrayEach(choices, func(i int, c []byte) error {
		if i == 0 {
			msg = jsonscan.Get(c, "message")
		}
		return nil
	})
	if jsonscan.KindOf(msg) != jsonscan.Object {
		return dst, false
	}
	content := jsonscan.Get(msg, "content")
	if content == nil {
		content = []byte("null")
	}
	dst = append(dst, `{"role":"assistant","content":`...)
	dst = append(dst, content...)
	if tc := jsonscan.Get(msg, "tool_calls"); jsonscan.KindOf(tc) == jsonscan.Array && !bytes.Equal(bytes.TrimSpace(tc), []byte("[]")) {
		dst = append(append(dst, `,"tool_calls":`...), tc...)
	}
	return append(dst, '}'), true
}
