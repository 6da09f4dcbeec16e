package cache

// Helpers for engine/cache/semantic, which persists entries under its own
// Redis keys but in this package's value format and key conventions.

// AppendEntry appends e in the stored form the Redis tier writes (header,
// namespace, body; the body S2-compressed from compressAt bytes when that
// saves an eighth, never when compressAt <= 0), expiring at expires (Unix
// seconds). It does not modify e.
func AppendEntry(dst []byte, e *Entry, project, provider, model string, expires int64, compressAt int) []byte {
	k := Key{Project: project, Provider: provider, Model: model}
	return appendStored(dst, e, &k, expires, compressAt)
}

// DecodeEntry decodes bytes written by AppendEntry (or by the Redis tier).
// The Entry takes ownership of b, which must not change afterwards. Corrupt
// input is ErrCorrupt.
func DecodeEntry(b []byte) (*Entry, error) { return decodeStored(b) }

// KeySegment returns s as the Redis tier writes one segment of a key:
// ':', '%', whitespace and the glob characters percent-encoded, and "" as
// "%", so that a segment never contains a separator and MATCH patterns need
// no escaping.
func KeySegment(s string) string { return seg(s) }
