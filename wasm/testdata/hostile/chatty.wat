;; Reads and writes far more than a call may: the route stage reads the
;; body into a 64 KiB buffer; the request stage answers with a 60 KiB body.
(module
  (import "gateway" "body" (func $body (param i32 i32) (result i32)))
  (import "gateway" "respond" (func $respond (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "gateway_abi_version") (result i32) (i32.const 1))
  (func (export "gateway_on_route") (result i32)
    (drop (call $body (i32.const 0) (i32.const 65536)))
    (i32.const 0))
  (func (export "gateway_on_request") (result i32)
    (drop (call $respond (i32.const 200) (i32.const 0) (i32.const 61440)))
    (i32.const 0)))
