;; Routes every request to "fixed/model": the module the upload tests swap in.
(module
  (import "gateway" "set_route" (func $set_route (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "fixed/model")
  (data (i32.const 16) "fixed")
  (func (export "gateway_abi_version") (result i32) (i32.const 1))
  (func (export "gateway_on_route") (result i32)
    (call $set_route (i32.const 0) (i32.const 0) (i32.const 11) (i32.const 16) (i32.const 5))))
