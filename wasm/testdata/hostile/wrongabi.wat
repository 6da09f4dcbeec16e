;; Claims ABI v2: refused at load.
(module
  (memory (export "memory") 1)
  (func (export "gateway_abi_version") (result i32) (i32.const 2))
  (func (export "gateway_on_route") (result i32) (i32.const 0)))
