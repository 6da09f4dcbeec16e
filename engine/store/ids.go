package store

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Prefixes of generated ids and secrets.
const (
	KeySecretPrefix = "sk-gw-"
	webhookSecretPx = "whsec_"
)

// keyPrefixLen is how much of a secret Key.Prefix keeps: "sk-gw-" and six
// characters (36 bits), enough to tell keys apart in a listing, far too
// little to help guess one.
const keyPrefixLen = len(KeySecretPrefix) + 6

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomBase62 returns n base62 characters from crypto/rand, each uniform
// (rejection sampling: bytes >= 248 are dropped, so no character is more
// likely than another). 43 characters carry 256 bits, 22 carry 130.
func randomBase62(n int) string {
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		rand.Read(buf[:]) // never fails (crypto/rand panics instead)
		for _, b := range buf {
			if b < 248 && len(out) < n {
				out = append(out, base62[b%62])
			}
		}
	}
	return string(out)
}

// newID returns prefix + "_" + 22 random base62 characters.
func newID(prefix string) string { return prefix + "_" + randomBase62(22) }

// newKeySecret returns a new key secret: "sk-gw-" + 43 base62 characters.
func newKeySecret() string { return KeySecretPrefix + randomBase62(43) }

// HashKey is the SHA-256 of a key secret as sent by the client; KeyByHash
// looks keys up by it.
func HashKey(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// validID reports whether an id supplied by a caller is acceptable: 1 to 64
// characters of [A-Za-z0-9_.-].
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// ParseStatus turns a status filter of the admin API into an inclusive
// range: "429" → [429, 429], "4xx" → [400, 499], "error" → [400, 599],
// "" → [0, 0] (no filter).
func ParseStatus(s string) (lo, hi int, err error) {
	switch {
	case s == "":
		return 0, 0, nil
	case s == "error" || s == "errors":
		return 400, 599, nil
	case len(s) == 3 && (s[1] == 'x' || s[1] == 'X') && (s[2] == 'x' || s[2] == 'X') && s[0] >= '1' && s[0] <= '5':
		c := int(s[0]-'0') * 100
		return c, c + 99, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 100 || n > 599 {
		return 0, 0, fmt.Errorf("status %q: %w: want a code (429), a class (4xx) or \"error\"", s, ErrInvalid)
	}
	return n, n, nil
}

// A cursor is the (time, id) of the last row of a page, opaque to callers:
// base64url of the microseconds (8 bytes, big endian) and the id.
func encodeCursor(t time.Time, id string) string {
	b := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(b, uint64(t.UnixMicro()))
	return base64.RawURLEncoding.EncodeToString(append(b, id...))
}

var errCursor = errors.New("malformed cursor")

func decodeCursor(c string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 8 {
		return time.Time{}, "", fmt.Errorf("cursor: %w: %w", ErrInvalid, errCursor)
	}
	us := int64(binary.BigEndian.Uint64(b))
	return time.UnixMicro(us).UTC(), string(b[8:]), nil
}

// pageLimit applies the default and the cap of a page size.
func pageLimit(n int) (int, error) {
	switch {
	case n == 0:
		return 100, nil
	case n < 0 || n > 1000:
		return 0, fmt.Errorf("limit %d: %w: want 1 to 1000", n, ErrInvalid)
	}
	return n, nil
}

// utc truncates to the microsecond (both backends' precision) and drops the
// location and monotonic reading, so that what is stored is what is read
// back.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}
