package providers

import (
	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/unsafeconv"
)

// decode decodes r.Body.
//
// A body is decoded in one pass (decodeWalk): validation is folded into the
// walk, and a message's string content is validated and unescaped in the
// same read (jsonscan.UnquoteAt), so the bytes of a 100 KiB prompt are read
// once instead of five times (Validate, then a skip per level of nesting,
// then Unquote). A body that pass refuses, for any reason, is decoded again
// by decodeChecked (Validate, then the walk over trusted bytes): that path
// defines which error a client sees, and in which order a body with several
// faults reports them, so errors are the same whichever pass found them
// first. Only refused bodies pay twice.
func (r *Request) decode() error {
	n0 := len(r.scratch)
	if r.decodeWalk() == nil {
		return nil
	}
	r.resetDecoded()
	r.scratch = r.scratch[:n0]
	return r.decodeChecked()
}

// Nesting depths as jsonscan.Validate counts them: the body's object is 0,
// its members 1, the messages 2, a message's members 3.
const (
	depthTop     = 0
	depthMember  = 1
	depthMessage = 2
	depthMsgVal  = 3
	depthPart    = 4 // an element of a content parts array
	depthPartVal = 5
)

// decodeWalk decodes r.Body in one validating pass. Its error is only a
// signal to decode again with decodeChecked.
func (r *Request) decodeWalk() error {
	b := r.Body
	start := jsonscan.SkipSpace(b, 0)
	if start >= len(b) || b[start] != '{' {
		return jsonscan.ErrSyntax
	}
	msgs := false
	var seen jsonscan.Seen
	end, err := jsonscan.ObjectWalk(b, start, depthTop, func(ks int, key []byte, v int) (int, error) {
		f, err := topNames.Check(&seen, key)
		if err != nil {
			return v, err
		}
		var end int
		if f == fMessages && b[v] == '[' {
			msgs = true
			end, err = r.walkMessages(b, v)
		} else if end, err = jsonscan.SkipAt(b, v, depthMember); err == nil {
			var ignored []byte
			err = r.decodeField(f, b[v:end], &ignored)
		}
		r.Fields = append(r.Fields, Field{Key: unsafeconv.String(key), Start: ks, ValStart: v, End: end})
		return end, err
	})
	if err != nil {
		return err
	}
	if jsonscan.SkipSpace(b, end) != len(b) || !msgs || len(r.Messages) == 0 {
		return jsonscan.ErrSyntax
	}
	return r.checkTop()
}

// walkMessages decodes the messages array at b[i] and returns the offset
// past it.
func (r *Request) walkMessages(b []byte, i int) (int, error) {
	rg := r.ranges[:0]
	defer func() { r.ranges = rg[:0] }()
	end, err := jsonscan.ArrayWalk(b, i, depthMember, func(mi, e int) (int, error) {
		if b[e] != '{' {
			return e, jsonscan.ErrSyntax
		}
		m := Message{}
		x := msgRanges{p0: len(r.parts), c0: len(r.toolCalls)}
		hasContent := false
		var seen jsonscan.Seen
		end, err := jsonscan.ObjectWalk(b, e, depthMessage, func(_ int, k []byte, v int) (int, error) {
			f, err := messageNames.Check(&seen, k)
			if err != nil {
				return v, err
			}
			if f == mContent && b[v] == '"' {
				end, s, scratch, err := jsonscan.UnquoteAt(b, v, r.scratch)
				r.scratch = scratch
				hasContent = true
				m.ContentSpan = Span{v, end}
				m.Content = unsafeconv.String(s)
				return end, err
			}
			if f == mContent && b[v] == '[' {
				end, err := r.walkParts(b, v, mi)
				hasContent = true
				m.ContentSpan = Span{v, end}
				return end, err
			}
			end, err := jsonscan.SkipAt(b, v, depthMsgVal)
			if err != nil {
				return end, err
			}
			return end, r.messageMember(mi, &m, &hasContent, f, b[v:end])
		})
		if err != nil {
			return end, err
		}
		m.Span = Span{e, end}
		rg, err = r.addMessage(mi, &m, hasContent, x, rg)
		return end, err
	})
	if err != nil {
		return end, err
	}
	r.fixMessages(rg)
	return end, nil
}

// walkParts decodes the content parts array at b[i] (message mi) and
// returns the offset past it: a part's type and text are validated and
// unescaped in one read, as a string content is, and its other members
// are skipped, then decoded as decodeParts decodes them.
func (r *Request) walkParts(b []byte, i, mi int) (int, error) {
	return jsonscan.ArrayWalk(b, i, depthMsgVal, func(pi, e int) (int, error) {
		if b[e] != '{' {
			return e, jsonscan.ErrSyntax
		}
		param := p2("messages", mi, ".content", pi, "")
		p := Part{}
		var seen jsonscan.Seen
		end, err := jsonscan.ObjectWalk(b, e, depthPart, func(_ int, k []byte, v int) (int, error) {
			f, err := partNames.Check(&seen, k)
			if err != nil {
				return v, err
			}
			if (f == ptType || f == ptText) && b[v] == '"' {
				end, s, scratch, err := jsonscan.UnquoteAt(b, v, r.scratch)
				r.scratch = scratch
				if f == ptType {
					p.Type = unsafeconv.String(s)
				} else {
					p.Text = unsafeconv.String(s)
				}
				return end, err
			}
			end, err := jsonscan.SkipAt(b, v, depthPartVal)
			if err != nil {
				return end, err
			}
			return end, r.partMember(param, &p, f, b[v:end])
		})
		if err != nil {
			return end, err
		}
		p.Raw = b[e:end]
		return end, r.addPart(param, &p)
	})
}

// decodeChecked decodes r.Body in two steps: Validate, then a walk over
// the validated bytes. Its errors are the ones clients see.
func (r *Request) decodeChecked() error {
	b := r.Body
	if err := jsonscan.Validate(b); err != nil {
		return reqErr("", "request body is not valid JSON: "+err.Error())
	}
	start := jsonscan.SkipSpace(b, 0)
	if jsonscan.KindOf(b[start:]) != jsonscan.Object {
		return reqErr("", "request body must be a JSON object")
	}
	obj := b[start:]
	base := start
	// Member offsets: ObjectEach yields sub-slices, so offsets come from
	// pointer arithmetic against the body.
	var msgsVal []byte
	var seen jsonscan.Seen
	err := jsonscan.ObjectEachTrusted(obj, func(key, val []byte) error {
		valStart := offsetOf(b, val)
		keyStart := lastQuoteBefore(b, base, valStart, len(key))
		r.Fields = append(r.Fields, Field{Key: unsafeconv.String(key), Start: keyStart, ValStart: valStart, End: valStart + len(val)})
		f, err := topNames.Check(&seen, key)
		if err != nil {
			return NameErr("", err)
		}
		return r.decodeField(f, val, &msgsVal)
	})
	if err != nil {
		return err
	}
	if msgsVal == nil {
		return reqErr("messages", "is required")
	}
	if err := r.decodeMessages(msgsVal); err != nil {
		return err
	}
	if len(r.Messages) == 0 {
		return reqErr("messages", "must contain at least one message")
	}
	return r.checkTop()
}
