package store

import "errors"

// Sentinel errors of the store. Methods wrap them with context; test with
// errors.Is.
var (
	// ErrNotFound: no project, key, webhook or delivery has that id (or, for
	// KeyByHash, that hash).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the id is taken, or a static project would shadow a
	// dynamic one.
	ErrConflict = errors.New("conflict")
	// ErrReadOnly: the project comes from gateway.toml and can be changed
	// only there.
	ErrReadOnly = errors.New("read-only: defined in the configuration file")
	// ErrInvalid: a field or query parameter is out of range; the wrapping
	// error names it.
	ErrInvalid = errors.New("invalid")
	// ErrKeyRevoked: the key exists but was revoked (or its project deleted).
	ErrKeyRevoked = errors.New("key revoked")
	// ErrKeyExpired: the key exists but its expires_at has passed.
	ErrKeyExpired = errors.New("key expired")
)
