;; Loops forever in its start function: instantiation must time out and the
;; upload be refused.
(module
  (memory (export "memory") 1)
  (func $init (loop $l (br $l)))
  (start $init)
  (func (export "gateway_abi_version") (result i32) (i32.const 1))
  (func (export "gateway_on_route") (result i32) (i32.const 0)))
