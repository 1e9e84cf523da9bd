;; The shim between the Go runtime and the kernels (kernels.wat): Go imports
;; accelkern.matmul, which is this module's export, instantiated before Go's
;; own module. Once the kernels are instantiated on Go's memory, kernels.js
;; puts each level's matmul into the table, at the index the Go side passes
;; (0 relaxed, 1 simd128): Go calls the kernels with no JavaScript between.
(module
  (type $matmul (func (param i32) (result i32)))
  (table (export "table") 2 funcref)
  (func (export "matmul") (param $job i32) (param $level i32) (result i32)
    (call_indirect (type $matmul) (local.get $job) (local.get $level))))
