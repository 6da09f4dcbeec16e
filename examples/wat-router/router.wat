;; wat-router: a route-stage policy written in WebAssembly text, with no SDK,
;; to show that the gateway's ABI needs nothing Go-specific: only integers
;; cross the boundary, and every buffer is the guest's own memory.
;;
;;   X-Priority: high      -> openai/o3                   reasoning "wat: priority header"
;;   last message > 2000 B -> anthropic/claude-sonnet-4-0 strong    "wat: long prompt"
;;   otherwise             -> groq/llama-3.1-8b-instant   fast      "wat: short prompt"
;;
;; The tier rides in set_route's flag bits 4-7 (ABI v1.1) when the host
;; announces feature bit 7 (TIER); a v1.0 host gets the route without it.
;;
;; Build: wat2wasm router.wat -o router.wasm   (Debian: apt-get install wabt)
(module
  (import "gateway" "features" (func $features (result i64)))
  (import "gateway" "header" (func $header (param i32 i32 i32 i32) (result i32)))
  (import "gateway" "message_count" (func $message_count (result i32)))
  (import "gateway" "message_text" (func $message_text (param i32 i32 i32) (result i32)))
  (import "gateway" "set_route" (func $set_route (param i32 i32 i32 i32 i32) (result i32)))

  ;; One page of guest memory. Constants live at fixed offsets; bytes
  ;; 256..271 are the buffer the host copies the header value into.
  (memory (export "memory") 1)
  (data (i32.const 0) "x-priority")
  (data (i32.const 16) "high")
  (data (i32.const 32) "openai/o3")
  (data (i32.const 48) "wat: priority header")
  (data (i32.const 80) "anthropic/claude-sonnet-4-0")
  (data (i32.const 112) "wat: long prompt")
  (data (i32.const 128) "groq/llama-3.1-8b-instant")
  (data (i32.const 160) "wat: short prompt")

  ;; The ABI marker: this module speaks ABI v1.
  (func (export "gateway_abi_version") (result i32) (i32.const 1))

  ;; The self-check: this policy takes no settings and accepts any config,
  ;; so it can replace the built-in router under the same policy name.
  (func (export "gateway_configure") (result i32) (i32.const 0))

  ;; route(tier, model_ptr, model_len, reason_ptr, reason_len): set_route
  ;; with the tier in flag bits 4-7 if the host reads them (feature bit 7).
  (func $route (param $tier i32) (param $m i32) (param $ml i32) (param $r i32) (param $rl i32) (result i32)
    (if (i64.eqz (i64.and (call $features) (i64.const 128)))
      (then (local.set $tier (i32.const 0))))
    (call $set_route (i32.shl (local.get $tier) (i32.const 4))
      (local.get $m) (local.get $ml) (local.get $r) (local.get $rl)))

  (func (export "gateway_on_route") (result i32)
    (local $n i32)
    ;; header(name_ptr, name_len, buf_ptr, buf_cap) -> full length, or -1
    ;; (not found). The host copies at most 16 bytes; a longer value cannot
    ;; be "high", so no retry is needed.
    (local.set $n (call $header (i32.const 0) (i32.const 10) (i32.const 256) (i32.const 16)))
    (if (i32.and (i32.eq (local.get $n) (i32.const 4))
                 (i32.eq (i32.load (i32.const 256)) (i32.load (i32.const 16))))
      (then (return (call $route (i32.const 4) ;; reasoning
        (i32.const 32) (i32.const 9) (i32.const 48) (i32.const 20)))))
    ;; message_text(i, buf_ptr, cap 0) copies nothing and returns the length:
    ;; the first half of grow-and-retry.
    (local.set $n (call $message_text
      (i32.sub (call $message_count) (i32.const 1)) (i32.const 0) (i32.const 0)))
    (if (i32.gt_s (local.get $n) (i32.const 2000))
      (then (return (call $route (i32.const 3) ;; strong
        (i32.const 80) (i32.const 27) (i32.const 112) (i32.const 16)))))
    ;; set_route returns 0 on success: the module returns the same status.
    (call $route (i32.const 2) ;; fast
      (i32.const 128) (i32.const 25) (i32.const 160) (i32.const 17))))
