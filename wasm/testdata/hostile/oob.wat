;; Out-of-bounds accesses. route: hands the host a buffer past the end of its
;; memory, ignores the error and claims success. request: a setter argument
;; that straddles the end of memory. response: a store past the end of
;; memory, which traps inside the guest.
(module
  (import "gateway" "model" (func $model (param i32 i32) (result i32)))
  (import "gateway" "add_tag" (func $add_tag (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "gateway_abi_version") (result i32) (i32.const 1))
  (func (export "gateway_on_route") (result i32)
    (drop (call $model (i32.const 0xFFFFFF00) (i32.const 64)))
    (i32.const 0))
  (func (export "gateway_on_request") (result i32)
    (drop (call $add_tag (i32.const 65530) (i32.const 100) (i32.const 0) (i32.const 1)))
    (i32.const 0))
  (func (export "gateway_on_response") (result i32)
    (i32.store (i32.const 70000) (i32.const 1))
    (i32.const 0)))
