// Package wasm is the gateway's policy host: it loads policy modules
// (WebAssembly, ABI v1 of package abi) on wazero, keeps a bounded pool of
// instances per module version, runs the chain of policies bound to each
// stage, and swaps modules at run time. It knows nothing about HTTP: the
// engine turns requests into an Input, runs stages, and applies the Output.
//
// # Using it from the engine
//
//	h, err := wasm.New(ctx, wasm.Options{CacheDir: "data/wasm-cache", DataDir: "data"})
//	defer h.Close(ctx)
//	err = h.Configure(cfg.Policies)  // []wasm.PolicyConfig from [[policies]] (wasm.DefaultPolicies() when empty)
//	h.OnChange(publishToRedis)       // func(name, digest string, module []byte); module nil = deleted
//
// Per request (Input and Output pooled by the engine; Reset between uses):
//
//	policyinput.Fill(in, req, project, headers) // engine/policyinput: resets in, fills it from the decoded request
//	out.Reset()
//	err := h.Run(ctx, abi.StageRequest, in, out)  // *PolicyError when a fail-closed policy failed: 5xx naming it
//	if out.Response.Set { … answer out.Response.Status, out.Response.Body … }
//	if msgs := out.Messages(); msgs != nil { … rebuild "messages": re-emit unchanged ones (Orig >= 0, !Changed) byte for byte … }
//	if model is auto { h.Run(ctx, abi.StageRoute, in, out) } // out.Route.Model, .Reason (X-Gateway-Route-Reason), .Ambiguous
//	… after a complete non-streaming answer: in.Response = body; h.Run(ctx, abi.StageResponse, in, out) // out.Verdict
//	out.Tags, out.Failures           // for logs and metrics (fail-open failures)
//
// Admin API:
//
//	b, err := wasm.ReadModule(r, maxBytes) // refuses an oversized body after reading at most maxBytes+1
//	info, err := h.Upload(name, b)         // errors wrap ErrInvalidModule or ErrModuleTooLarge: 400 with err.Error(); ErrBusy: 503
//	h.UploadAt(name, b, pos)               // pos from ParsePosition("first" | "last" | "before:NAME" | "after:NAME")
//	h.Chains()                             // each stage's chain in run order, with the rule that decides
//	h.Upload(name, b, wasm.FromReplica)    // a module received from another replica: not handed to OnChange again
//	err = h.Delete(name)                   // back to the configured (built-in) module; ErrUnknownPolicy: 404
//	h.List(); h.Get(name)                  // []Info with digest, stages, load time, live metrics, warnings, recent failures
//	h.OnFailure(logRateLimited)            // func(policy string, r FailureRecord), after each failed call
//
// The built-in modules are embedded (Builtin, BuiltinNames); gateway.toml
// names them "builtin:stripper", "builtin:dedup", "builtin:skills",
// "builtin:diff-first", "builtin:router" and "builtin:judge".
//
// # What it guarantees
//
//   - Uploads cannot stall the host: an untrusted module's functions are
//     counted before it is decoded (MaxFunctions), it compiles outside the
//     admin lock within CompileTimeout (abandoned past it), and its compiled
//     code's disk cache is bounded (CacheMaxBytes).
//   - Validation before anything goes live: Configure and Upload compile the
//     module (once per digest, single-flight, cached on disk), check the
//     import allowlist and signatures, the ABI marker, the stage exports and
//     the memory, instantiate it and run its self-check with the policy's
//     config. A refused Configure or Upload changes nothing.
//   - Atomic swaps: calls already running finish on the version they
//     started with; new calls use the new one.
//   - Sandbox: no filesystem, network or environment; a memory cap per
//     instance; a per-call deadline (uploaded and file modules are stopped
//     at it; see RATIONALE.md for the built-ins); caps on the bytes a call
//     reads and writes; quarantine after repeated failures; real clocks and
//     a cryptographic random source (wazero's defaults are fakes, under
//     which a Go guest's heap grows without bound).
//   - Zero allocations on the host per policy call in steady state (built-in
//     modules; uploaded ones add wazero's per-call deadline watcher).
//   - Metrics per policy on the VictoriaMetrics set of Options.Metrics:
//     gateway_policy_calls_total, _errors_total, _timeouts_total,
//     _quarantines_total, _skipped_total, _failures_total{reason},
//     _duration_seconds (histogram),
//     gateway_policy_instances, gateway_policy_memory_bytes and
//     gateway_policy_quarantined, each with {policy="NAME"}.
//
// # Notes
//
// Host methods are safe for concurrent use; Run is lock-free. An Input is
// read-only during Run and must outlive it; an Output belongs to one request
// at a time. Every []byte an Output holds is valid until its Reset.
package wasm
