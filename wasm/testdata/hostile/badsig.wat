;; Imports a real host function with the wrong signature: refused at load.
(module
  (import "gateway" "model" (func $model (param i64) (result i32)))
  (memory (export "memory") 1)
  (func (export "gateway_abi_version") (result i32) (i32.const 1))
  (func (export "gateway_on_route") (result i32) (i32.const 0)))
