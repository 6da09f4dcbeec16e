// Package unsafeconv converts between strings and byte slices without
// copying. It is the one place the gateway does so: every caller must keep
// the rule below.
//
// A string from String aliases the slice's memory, and a slice from Bytes
// aliases the string's: the bytes must not change while the result is in
// use, and a slice from Bytes must never be written.
package unsafeconv

import "unsafe"

// String returns b's bytes as a string without copying; "" for an empty b.
func String(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// Bytes returns s's bytes as a slice without copying; nil for "". The slice
// must not be written.
func Bytes(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
