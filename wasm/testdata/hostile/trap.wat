;; Traps at once.
(module
  (memory (export "memory") 1)
  (func (export "gateway_abi_version") (result i32) (i32.const 1))
  (func (export "gateway_on_route") (result i32) unreachable)
  (func (export "gateway_on_request") (result i32) (i32.div_u (i32.const 1) (i32.const 0))))
