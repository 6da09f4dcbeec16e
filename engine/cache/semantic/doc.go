// Package semantic is the gateway's opt-in semantic response cache: it
// answers a request from the stored answer to a *similar* final user turn,
// where the exact cache (engine/cache) needs an identical request.
//
// Correctness comes before hit rate. A stored answer is reused only within
// the same scope — project, provider and model, system prompt, every
// earlier message, tools, tool_choice, response_format and every sampling
// parameter — only for short final user turns (500 characters by default),
// only when the cosine similarity of the two turns' embeddings is at least
// the threshold (0.95), and only when the guards find no difference that
// changes the answer: script or language, negations and opposites, numbers,
// quoted strings and code, identifiers and paths, content words, and their
// order. Tool results and other agent turns are never matched.
//
// The engine calls it after the exact cache missed, for projects that opted
// in, on requests the exact cache's policy found cacheable:
//
//	if e, sim, ok := sem.Lookup(ctx, req, project, provider, upstreamModel); ok {
//		// X-Gateway-Cache: hit-semantic
//		// X-Gateway-Cache-Similarity: semantic.AppendSimilarity(nil, sim)
//		// serve e.Response(id, req.Stream, req.IncludeUsage)
//	}
//	// … and once a complete answer e has been stored by the exact cache:
//	_ = sem.Store(ctx, req, project, provider, upstreamModel, e)
//
// Embeddings come from the built-in Local embedder (lexical feature
// hashing: no network, no model, no synonyms) or from any gateway provider
// that serves embeddings (Provider). docs/semantic-cache.md documents the
// scope, the guards, the calibration and the Redis layout.
//
// # Notes
//
// A Cache is safe for concurrent use; entries are the exact cache's
// immutable Entries. Lookups allocate nothing in steady state with the
// local embedder. Redis and a remote embedder are bounded by timeouts and
// skipped for a back-off period after failures: they never fail or stall a
// request.
package semantic
