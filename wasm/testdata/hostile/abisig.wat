;; ABI marker with the wrong type: refused at load.
(module
  (memory (export "memory") 1)
  (func (export "gateway_abi_version") (result i64) (i64.const 1))
  (func (export "gateway_on_route") (result i32) (i32.const 0)))
