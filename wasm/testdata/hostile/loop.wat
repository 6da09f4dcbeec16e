;; Spins forever in every stage: the deadline must stop it.
(module
  (memory (export "memory") 1)
  (func (export "gateway_abi_version") (result i32) (i32.const 1))
  (func $spin (result i32) (loop $l (br $l)) (i32.const 0))
  (func (export "gateway_on_request") (result i32) (call $spin))
  (func (export "gateway_on_route") (result i32) (call $spin)))
