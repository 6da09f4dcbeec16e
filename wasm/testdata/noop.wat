;; The smallest valid policy: it implements every stage and does nothing.
;; The benchmarks use it to measure the per-call overhead of the host.
(module
  (memory (export "memory") 1)
  (func (export "gateway_abi_version") (result i32) (i32.const 1))
  (func (export "gateway_on_request") (result i32) (i32.const 0))
  (func (export "gateway_on_route") (result i32) (i32.const 0))
  (func (export "gateway_on_response") (result i32) (i32.const 0)))
