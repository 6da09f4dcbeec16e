package semantic

import "errors"

// Sentinel errors. Lookup never returns an error (every failure is a miss);
// Store returns these so that callers and tests can tell why nothing was
// stored.
var (
	// ErrClosed reports use of a closed Cache.
	ErrClosed = errors.New("semantic: closed")
	// ErrIneligible reports a request whose final turn the semantic cache
	// does not serve (not a short text user turn, a tool result, several
	// choices, …); the wrapped message names the reason.
	ErrIneligible = errors.New("semantic: request not eligible")
	// ErrNotStorable reports an answer the semantic cache does not keep
	// (tool calls unless StoreToolCalls, a transient finish reason, too
	// large).
	ErrNotStorable = errors.New("semantic: answer not storable")
	// ErrEmbed reports an embedder failure.
	ErrEmbed = errors.New("semantic: embedding failed")
	// ErrRedisSkipped reports that Redis was skipped during its back-off.
	ErrRedisSkipped = errors.New("semantic: redis skipped after failures")
	// ErrCorrupt reports a stored record that does not decode.
	ErrCorrupt = errors.New("semantic: corrupt record")
)
