;; Imports a WASI filesystem call: refused at load.
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "gateway_abi_version") (result i32) (i32.const 1))
  (func (export "gateway_on_route") (result i32) (i32.const 0)))
