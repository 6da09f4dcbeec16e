;; Grows its memory a MiB at a time until the host refuses, then returns the
;; number of 64 KiB pages it reached as its (error) status, so the test can
;; check where the cap stopped it.
(module
  (memory (export "memory") 1)
  (func (export "gateway_abi_version") (result i32) (i32.const 1))
  (func (export "gateway_on_route") (result i32)
    (loop $l
      (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    (memory.size)))
