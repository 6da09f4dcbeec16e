;; Returns an error status with a reason, after recording a route that the
;; host must discard.
(module
  (import "gateway" "set_route" (func $set_route (param i32 i32 i32 i32 i32) (result i32)))
  (import "gateway" "set_error" (func $set_error (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "bad/model")
  (data (i32.const 16) "policy gave up")
  (func (export "gateway_abi_version") (result i32) (i32.const 1))
  (func (export "gateway_on_route") (result i32)
    (drop (call $set_route (i32.const 0) (i32.const 0) (i32.const 9) (i32.const 0) (i32.const 0)))
    (drop (call $set_error (i32.const 16) (i32.const 14)))
    (i32.const 1)))
