;; Matrix kernels of the accel browser runtime: WebAssembly SIMD versions of
;; the Go kernels of inference/quant, giving the same bits as those compiled
;; for js/wasm (the runtime checks it at load, browser/kern).
;;
;; Four variants are built from this file (scripts/build-kernels.mjs): a
;; line starting with ";;@<tag> " is code in the variants of that tag and a
;; comment in the others. Memory: "go" imports the Go runtime's own memory
;; (the job, weights, activations and results are Go values, read and
;; written in place; browser/kern calls matmul through a shim's table,
;; shim.wat); "arena" imports a shared memory, the arena, that holds the
;; weights and activations and is run on by several threads (dispatch and
;; worker_loop; browser/js/kernels.js copies the activations in and out).
;; Level: "relaxed" uses relaxed SIMD, "simd128" SIMD128 alone.
;;
;; Exactness. Every float32 operation is Go's, in Go's order: a vector's
;; lanes are four rows, each lane replaying one row's scalar chain (F32's
;; lanes are Go's four partial sums instead). Integer sums are exact in any
;; order. No fused or relaxed float operation is used. Each output is
;; computed whole by one thread, so how the rows are shared out between
;; threads does not change a bit.
;;
;; The job (browser/kern: job and matDesc; little-endian uint32 fields,
;; addresses in this memory):
;;    0 n      vectors           4 cols      8 x    f32 n×cols
;;   12 q8     i8 n×nb×32       16 q8s  f32 n×nb   20 q8sum i32 n×nb
;;   24 gx     f32 n×nb         28 work 512×nb bytes   32 tail f32 ×32
;;   36 nmat                     40 mats: nmat × 32 bytes
;; (q8 to tail are scratch; nb = ⌈cols/32⌉; gx and work are matmul's, the
;; threads of dispatch have their own).
;; A matrix: +0 kind (quant.Kind: 0 f32, 1 f16, 2 bf16, 3 q8_0, 4 q4_0,
;; 5 int) +4 bits +8 group +12 asym +16 rows +20 rowBytes +24 w (its rows)
;; +28 y (f32 n×rows, y[t·rows + r] = row r · vector t). Kind 6 is a sum
;; of rows (quant.AddRows): group f32 rows of width `rows`, rowBytes apart,
;; weighted by each vector's first group values, added to y (n×rows).
;; Kinds 7 and 8 read no vectors: quant.SwiGLU of the rows values at y
;; (gate) and w (up), and quant.Softmax of rows rows of group values at y.
(module
;;@go  (import "env" "mem" (memory 1))
;;@arena  (import "env" "mem" (memory 1 65536 shared))

  ;; matmul runs a job on this thread: every matrix times every vector. It
  ;; returns 0, or 1 for a matrix of a kind it has no kernel for.
  (func (export "matmul") (param $job i32) (result i32)
    (local $m i32) (local $end i32)
    (if (call $prepare (local.get $job)) (then (return (i32.const 1))))
    (local.set $m (i32.load offset=40 (local.get $job)))
    (local.set $end (i32.add (local.get $m) (i32.shl (i32.load offset=36 (local.get $job)) (i32.const 5))))
    (block $done (loop $mats
      (br_if $done (i32.ge_u (local.get $m) (local.get $end)))
      (call $rows (local.get $job) (local.get $m) (i32.const 0) (i32.load offset=16 (local.get $m))
        (i32.load offset=28 (local.get $job)) (i32.load offset=24 (local.get $job)))
      (local.set $m (i32.add (local.get $m) (i32.const 32)))
      (br $mats)))
    (i32.const 0))

  ;; prepare readies a job's products: it returns 1 for a matrix of a kind
  ;; with no kernel, else quantizes the vectors to 8 bits if a matrix reads
  ;; them so (kinds 3 to 5, as quant.Batch) and returns 0.
  (func $prepare (param $job i32) (result i32)
    (local $m i32) (local $end i32) (local $q8 i32)
    (local.set $m (i32.load offset=40 (local.get $job)))
    (local.set $end (i32.add (local.get $m) (i32.shl (i32.load offset=36 (local.get $job)) (i32.const 5))))
    (block $done (loop $mats
      (br_if $done (i32.ge_u (local.get $m) (local.get $end)))
      (if (i32.gt_u (i32.load (local.get $m)) (i32.const 8)) (then (return (i32.const 1))))
      (local.set $q8 (i32.or (local.get $q8) (i32.lt_u (i32.sub (i32.load (local.get $m)) (i32.const 3)) (i32.const 3))))
      (local.set $m (i32.add (local.get $m) (i32.const 32)))
      (br $mats)))
    (if (local.get $q8)
      (then (call $quantize (i32.load offset=8 (local.get $job)) (i32.load (local.get $job)) (i32.load offset=4 (local.get $job))
        (i32.load offset=12 (local.get $job)) (i32.load offset=16 (local.get $job))
        (i32.load offset=20 (local.get $job)) (i32.load offset=32 (local.get $job)))))
    (i32.const 0))

  ;; rows computes rows [r0, r1) of matrix m of job (r0 a multiple of 4,
  ;; r1 too or the matrix's last row + 1) for every vector, with work
  ;; (512·nb bytes) and gx (4·n·nb bytes) as scratch. The vectors are
  ;; quantized already (prepare).
  (func $rows (param $job i32) (param $m i32) (param $r0 i32) (param $r1 i32) (param $work i32) (param $gx i32)
    (local $kind i32) (local $n i32) (local $cols i32) (local $nb i32) (local $x i32)
    (local.set $kind (i32.load (local.get $m)))
    (local.set $n (i32.load (local.get $job)))
    (local.set $cols (i32.load offset=4 (local.get $job)))
    (local.set $x (i32.load offset=8 (local.get $job)))
    (local.set $nb (i32.shr_u (i32.add (local.get $cols) (i32.const 31)) (i32.const 5)))
    (if (i32.eqz (local.get $kind))
      (then (call $mm_f32 (local.get $m) (local.get $cols) (local.get $n) (local.get $x) (local.get $r0) (local.get $r1)) (return)))
    (if (i32.lt_u (local.get $kind) (i32.const 3))
      (then (call $mm_h16 (local.get $m) (local.get $cols) (local.get $n) (local.get $x) (local.get $work) (local.get $r0) (local.get $r1)) (return)))
    (if (i32.lt_u (local.get $kind) (i32.const 5))
      (then (call $mm_q (local.get $m) (local.get $nb) (local.get $n) (local.get $job) (local.get $work) (local.get $r0) (local.get $r1)) (return)))
    (if (i32.eq (local.get $kind) (i32.const 6))
      (then (call $mm_sum (local.get $m) (local.get $cols) (local.get $n) (local.get $x) (local.get $r0) (local.get $r1)) (return)))
    (if (i32.eq (local.get $kind) (i32.const 7))
      (then (call $swiglu (local.get $m) (local.get $r0) (local.get $r1)) (return)))
    (if (i32.eq (local.get $kind) (i32.const 8))
      (then (call $softmax (local.get $m) (local.get $r0) (local.get $r1)) (return)))
    (call $mm_int (local.get $m) (local.get $nb) (local.get $n) (local.get $job) (local.get $work) (local.get $gx) (local.get $r0) (local.get $r1)))

  ;; ---- threads (arena variants) ----
  ;;
  ;; A job is run by T threads: the runtime's (dispatch) and T−1 workers
  ;; (worker_loop). The rows of its matrices, stacked in order, are cut
  ;; into 4-row quads (a matrix's last one may be short) and the quads into
  ;; parts = min(quads, 4·T) runs of consecutive quads; a thread claims a
  ;; part, computes it, and claims the next until none is left. They meet
  ;; at a control block (ctrl, 64 bytes; i32 fields):
  ;;    0 gen      jobs published     4 claims   parts << 16 | next part
  ;;    8 left     parts not done    12 stop     1: worker_loop returns
  ;;   16 job      its address       20 quads    of the job
  ;;   24 scratch  thread i's at scratch + i·size: work (512·nb bytes) then gx
  ;;   28 size     32 threads  T     36 spin     polls before a thread sleeps
  ;;   40 started  worker_loops entered
  ;; A claim (one atomic add on claims) carries the part count of the job
  ;; it claims from, and the job's fields stay as they are until every part
  ;; of it is done (dispatch returns only then): a thread that comes late
  ;; finds no part left, or claims a part of the job published since and
  ;; reads that one's fields — claim, then read.

  ;; dispatch runs the job at ctrl's job on every thread: it publishes it,
  ;; computes the parts it claims and waits for the others. It returns 0,
  ;; or 1 for a matrix of a kind it has no kernel for.
  (func (export "dispatch") (param $ctrl i32) (result i32)
    (local $job i32) (local $m i32) (local $end i32) (local $quads i32) (local $parts i32) (local $left i32)
    (local.set $job (i32.load offset=16 (local.get $ctrl)))
    (if (call $prepare (local.get $job)) (then (return (i32.const 1))))
    (local.set $m (i32.load offset=40 (local.get $job)))
    (local.set $end (i32.add (local.get $m) (i32.shl (i32.load offset=36 (local.get $job)) (i32.const 5))))
    (block $done (loop $mats
      (br_if $done (i32.ge_u (local.get $m) (local.get $end)))
      (local.set $quads (i32.add (local.get $quads) (i32.shr_u (i32.add (i32.load offset=16 (local.get $m)) (i32.const 3)) (i32.const 2))))
      (local.set $m (i32.add (local.get $m) (i32.const 32)))
      (br $mats)))
    (i32.store offset=20 (local.get $ctrl) (local.get $quads))
    (local.set $parts (i32.shl (i32.load offset=32 (local.get $ctrl)) (i32.const 2)))
    (local.set $parts (select (local.get $quads) (local.get $parts) (i32.lt_u (local.get $quads) (local.get $parts))))
    (i32.atomic.store offset=8 (local.get $ctrl) (local.get $parts))
    (i32.atomic.store offset=4 (local.get $ctrl) (i32.shl (local.get $parts) (i32.const 16)))
    (drop (i32.atomic.rmw.add (local.get $ctrl) (i32.const 1)))
    (drop (memory.atomic.notify (local.get $ctrl) (i32.const -1)))
    (call $run_parts (local.get $ctrl) (i32.const 0))
    (block $finished (loop $wait
      (local.set $left (i32.atomic.load offset=8 (local.get $ctrl)))
      (br_if $finished (i32.eqz (local.get $left)))
      (call $await (i32.add (local.get $ctrl) (i32.const 8)) (local.get $left) (i32.load offset=36 (local.get $ctrl)))
      (br $wait)))
    (i32.const 0))

  ;; worker_loop is worker thread id's life (1 ≤ id < T): it runs the parts
  ;; of each job it finds published, then waits for the next, until stop.
  (func (export "worker_loop") (param $ctrl i32) (param $id i32)
    (local $seen i32)
    (local.set $seen (i32.atomic.load (local.get $ctrl)))
    (loop $jobs
      (if (i32.atomic.load offset=12 (local.get $ctrl)) (then (return)))
      (call $run_parts (local.get $ctrl) (local.get $id))
      (call $await (local.get $ctrl) (local.get $seen) (i32.load offset=36 (local.get $ctrl)))
      (local.set $seen (i32.atomic.load (local.get $ctrl)))
      (br $jobs)))

  ;; run_parts claims parts of the job published last and computes them,
  ;; as thread id, until none is left; the thread that finishes the last
  ;; part wakes dispatch.
  (func $run_parts (param $ctrl i32) (param $id i32)
    (local $claim i32) (local $p i32) (local $parts i32) (local $job i32) (local $quads i32) (local $q0 i32) (local $q1 i32)
    (local $m i32) (local $end i32) (local $base i32) (local $mq i32) (local $a i32) (local $b i32) (local $rows i32) (local $work i32)
    (loop $claims
      (local.set $claim (i32.atomic.rmw.add offset=4 (local.get $ctrl) (i32.const 1)))
      (local.set $p (i32.and (local.get $claim) (i32.const 0xffff)))
      (local.set $parts (i32.shr_u (local.get $claim) (i32.const 16)))
      (if (i32.ge_u (local.get $p) (local.get $parts)) (then (return)))
      (local.set $job (i32.load offset=16 (local.get $ctrl)))
      (local.set $quads (i32.load offset=20 (local.get $ctrl)))
      (local.set $q0 (i32.div_u (i32.mul (local.get $p) (local.get $quads)) (local.get $parts)))
      (local.set $q1 (i32.div_u (i32.mul (i32.add (local.get $p) (i32.const 1)) (local.get $quads)) (local.get $parts)))
      (local.set $work (i32.add (i32.load offset=24 (local.get $ctrl)) (i32.mul (local.get $id) (i32.load offset=28 (local.get $ctrl)))))
      ;; the quads [q0, q1) of the matrices stacked, matrix by matrix
      (local.set $base (i32.const 0))
      (local.set $m (i32.load offset=40 (local.get $job)))
      (local.set $end (i32.add (local.get $m) (i32.shl (i32.load offset=36 (local.get $job)) (i32.const 5))))
      (block $done (loop $mats
        (br_if $done (i32.ge_u (local.get $m) (local.get $end)))
        (local.set $rows (i32.load offset=16 (local.get $m)))
        (local.set $mq (i32.shr_u (i32.add (local.get $rows) (i32.const 3)) (i32.const 2)))
        (local.set $a (select (local.get $q0) (local.get $base) (i32.gt_u (local.get $q0) (local.get $base))))
        (local.set $b (i32.add (local.get $base) (local.get $mq)))
        (local.set $b (select (local.get $q1) (local.get $b) (i32.lt_u (local.get $q1) (local.get $b))))
        (if (i32.lt_u (local.get $a) (local.get $b))
          (then
            (local.set $b (i32.shl (i32.sub (local.get $b) (local.get $base)) (i32.const 2)))
            (call $rows (local.get $job) (local.get $m) (i32.shl (i32.sub (local.get $a) (local.get $base)) (i32.const 2))
              (select (local.get $rows) (local.get $b) (i32.gt_u (local.get $b) (local.get $rows)))
              (local.get $work)
              (i32.add (local.get $work) (i32.shl (i32.shr_u (i32.add (i32.load offset=4 (local.get $job)) (i32.const 31)) (i32.const 5)) (i32.const 9))))))
        (local.set $base (i32.add (local.get $base) (local.get $mq)))
        (local.set $m (i32.add (local.get $m) (i32.const 32)))
        (br $mats)))
      (if (i32.eq (i32.atomic.rmw.sub offset=8 (local.get $ctrl) (i32.const 1)) (i32.const 1))
        (then (drop (memory.atomic.notify offset=8 (local.get $ctrl) (i32.const 1)))))
      (br $claims)))

  ;; await returns once the i32 at addr is no longer v: it polls it spin
  ;; times, then sleeps until a notify at addr.
  (func $await (param $addr i32) (param $v i32) (param $spin i32)
    (local $i i32)
    (block $changed (loop $poll
      (br_if $changed (i32.ne (i32.atomic.load (local.get $addr)) (local.get $v)))
      (if (i32.lt_u (local.get $i) (local.get $spin))
        (then (local.set $i (i32.add (local.get $i) (i32.const 1))))
        (else (drop (memory.atomic.wait32 (local.get $addr) (local.get $v) (i64.const -1)))))
      (br $poll))))

  ;; poll loads the i32 at addr n times, as await polls: kernels.js times
  ;; it to set the spin of a control block.
  (func (export "poll") (param $addr i32) (param $n i32)
    (block $done (loop $loads
      (br_if $done (i32.eqz (local.get $n)))
      (drop (i32.atomic.load (local.get $addr)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $loads))))

  ;; quantize is quant's quantizeQ8Row (quantizeQ8Block per block of 32) for
  ;; each of n vectors of cols values at x: codes q (zero past cols), scales
  ;; q8s and sums of codes q8sum. tail is 32 floats of scratch for a last
  ;; block that x ends in. Same bits as Go for finite x.
  (func $quantize (param $x i32) (param $n i32) (param $cols i32) (param $q i32) (param $qs i32) (param $qsum i32) (param $tail i32)
    (local $t i32) (local $b i32) (local $nb i32) (local $full i32) (local $src i32) (local $i i32) (local $left i32)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128)
    (local $v4 v128) (local $v5 v128) (local $v6 v128) (local $v7 v128)
    (local $mx v128) (local $amax f32) (local $scale f32) (local $inv v128)
    (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128)
    (local $r4 v128) (local $r5 v128) (local $r6 v128) (local $r7 v128) (local $s v128)
    (local.set $nb (i32.shr_u (i32.add (local.get $cols) (i32.const 31)) (i32.const 5)))
    (local.set $full (i32.shr_u (local.get $cols) (i32.const 5)))
    (local.set $t (i32.const 0))
    (block $tdone (loop $vectors
      (br_if $tdone (i32.ge_u (local.get $t) (local.get $n)))
      (local.set $b (i32.const 0))
      (block $bdone (loop $blocks
        (br_if $bdone (i32.ge_u (local.get $b) (local.get $nb)))
        (local.set $src (i32.add (local.get $x) (i32.shl (local.get $b) (i32.const 7))))
        (if (i32.ge_u (local.get $b) (local.get $full))
          (then
            ;; the last block, partial: its values then zeros, in tail
            (v128.store (local.get $tail) (v128.const i32x4 0 0 0 0))
            (v128.store offset=16 (local.get $tail) (v128.const i32x4 0 0 0 0))
            (v128.store offset=32 (local.get $tail) (v128.const i32x4 0 0 0 0))
            (v128.store offset=48 (local.get $tail) (v128.const i32x4 0 0 0 0))
            (v128.store offset=64 (local.get $tail) (v128.const i32x4 0 0 0 0))
            (v128.store offset=80 (local.get $tail) (v128.const i32x4 0 0 0 0))
            (v128.store offset=96 (local.get $tail) (v128.const i32x4 0 0 0 0))
            (v128.store offset=112 (local.get $tail) (v128.const i32x4 0 0 0 0))
            (local.set $left (i32.shl (i32.sub (local.get $cols) (i32.shl (local.get $b) (i32.const 5))) (i32.const 2)))
            (local.set $i (i32.const 0))
            (block $copied (loop $copy
              (br_if $copied (i32.ge_u (local.get $i) (local.get $left)))
              (f32.store (i32.add (local.get $tail) (local.get $i)) (f32.load (i32.add (local.get $src) (local.get $i))))
              (local.set $i (i32.add (local.get $i) (i32.const 4)))
              (br $copy)))
            (local.set $src (local.get $tail))))
        (local.set $v0 (v128.load (local.get $src)))
        (local.set $v1 (v128.load offset=16 (local.get $src)))
        (local.set $v2 (v128.load offset=32 (local.get $src)))
        (local.set $v3 (v128.load offset=48 (local.get $src)))
        (local.set $v4 (v128.load offset=64 (local.get $src)))
        (local.set $v5 (v128.load offset=80 (local.get $src)))
        (local.set $v6 (v128.load offset=96 (local.get $src)))
        (local.set $v7 (v128.load offset=112 (local.get $src)))
        ;; amax = max |v| (exact in any order)
        (local.set $mx (f32x4.max
          (f32x4.max (f32x4.max (f32x4.abs (local.get $v0)) (f32x4.abs (local.get $v1)))
                     (f32x4.max (f32x4.abs (local.get $v2)) (f32x4.abs (local.get $v3))))
          (f32x4.max (f32x4.max (f32x4.abs (local.get $v4)) (f32x4.abs (local.get $v5)))
                     (f32x4.max (f32x4.abs (local.get $v6)) (f32x4.abs (local.get $v7))))))
        (local.set $amax (f32.max
          (f32.max (f32x4.extract_lane 0 (local.get $mx)) (f32x4.extract_lane 1 (local.get $mx)))
          (f32.max (f32x4.extract_lane 2 (local.get $mx)) (f32x4.extract_lane 3 (local.get $mx)))))
        (if (f32.eq (local.get $amax) (f32.const 0))
          (then
            (v128.store (local.get $q) (v128.const i32x4 0 0 0 0))
            (v128.store offset=16 (local.get $q) (v128.const i32x4 0 0 0 0))
            (f32.store (local.get $qs) (f32.const 0))
            (i32.store (local.get $qsum) (i32.const 0)))
          (else
            ;; scale = amax/127, inv = 1/scale; q = RoundToEven(v·inv)
            (local.set $scale (f32.div (local.get $amax) (f32.const 127)))
            (local.set $inv (f32x4.splat (f32.div (f32.const 1) (local.get $scale))))
            (local.set $r0 (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (local.get $v0) (local.get $inv)))))
            (local.set $r1 (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (local.get $v1) (local.get $inv)))))
            (local.set $r2 (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (local.get $v2) (local.get $inv)))))
            (local.set $r3 (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (local.get $v3) (local.get $inv)))))
            (local.set $r4 (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (local.get $v4) (local.get $inv)))))
            (local.set $r5 (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (local.get $v5) (local.get $inv)))))
            (local.set $r6 (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (local.get $v6) (local.get $inv)))))
            (local.set $r7 (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (local.get $v7) (local.get $inv)))))
            (v128.store (local.get $q) (i8x16.narrow_i16x8_s
              (i16x8.narrow_i32x4_s (local.get $r0) (local.get $r1)) (i16x8.narrow_i32x4_s (local.get $r2) (local.get $r3))))
            (v128.store offset=16 (local.get $q) (i8x16.narrow_i16x8_s
              (i16x8.narrow_i32x4_s (local.get $r4) (local.get $r5)) (i16x8.narrow_i32x4_s (local.get $r6) (local.get $r7))))
            (local.set $s (i32x4.add
              (i32x4.add (i32x4.add (local.get $r0) (local.get $r1)) (i32x4.add (local.get $r2) (local.get $r3)))
              (i32x4.add (i32x4.add (local.get $r4) (local.get $r5)) (i32x4.add (local.get $r6) (local.get $r7)))))
            (f32.store (local.get $qs) (local.get $scale))
            (i32.store (local.get $qsum) (i32.add
              (i32.add (i32x4.extract_lane 0 (local.get $s)) (i32x4.extract_lane 1 (local.get $s)))
              (i32.add (i32x4.extract_lane 2 (local.get $s)) (i32x4.extract_lane 3 (local.get $s)))))))
        (local.set $q (i32.add (local.get $q) (i32.const 32)))
        (local.set $qs (i32.add (local.get $qs) (i32.const 4)))
        (local.set $qsum (i32.add (local.get $qsum) (i32.const 4)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $blocks)))
      (local.set $x (i32.add (local.get $x) (i32.shl (local.get $cols) (i32.const 2))))
      (local.set $t (i32.add (local.get $t) (i32.const 1)))
      (br $vectors)))
  )

  ;; ---- the rest of a step: quant.SwiGLU and quant.Softmax ----

  ;; swiglu writes gate[i]/(1 + float32(exp(−gate[i])))·up[i] into gate[i]
  ;; for i in [i, i1), gate at y and up at w of matrix m.
  (func $swiglu (param $m i32) (param $i i32) (param $i1 i32)
    (local $g i32) (local $u i32) (local $end i32) (local $v f32)
    (local.set $g (i32.add (i32.load offset=28 (local.get $m)) (i32.shl (local.get $i) (i32.const 2))))
    (local.set $u (i32.add (i32.load offset=24 (local.get $m)) (i32.shl (local.get $i) (i32.const 2))))
    (local.set $end (i32.add (i32.load offset=28 (local.get $m)) (i32.shl (local.get $i1) (i32.const 2))))
    (block $done (loop $elems
      (br_if $done (i32.ge_u (local.get $g) (local.get $end)))
      (local.set $v (f32.load (local.get $g)))
      (f32.store (local.get $g) (f32.mul
        (f32.div (local.get $v) (f32.add (f32.const 1) (f32.demote_f64 (call $exp (f64.neg (f64.promote_f32 (local.get $v)))))))
        (f32.load (local.get $u))))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (local.set $u (i32.add (local.get $u) (i32.const 4)))
      (br $elems)))
  )

  ;; softmax normalises rows [r, r1) of matrix m, each of group values, at
  ;; y: max, then float32(exp(v − max)) and their float32 sum in order,
  ;; then each over the sum.
  (func $softmax (param $m i32) (param $r i32) (param $r1 i32)
    (local $width i32) (local $row i32) (local $p i32) (local $end i32) (local $max f32) (local $sum f32) (local $e f32)
    (local.set $width (i32.shl (i32.load offset=8 (local.get $m)) (i32.const 2)))
    (local.set $row (i32.add (i32.load offset=28 (local.get $m)) (i32.mul (local.get $r) (local.get $width))))
    (block $rdone (loop $rows
      (br_if $rdone (i32.ge_u (local.get $r) (local.get $r1)))
      (local.set $end (i32.add (local.get $row) (local.get $width)))
      (local.set $max (f32.load (local.get $row)))
      (local.set $p (i32.add (local.get $row) (i32.const 4)))
      (block $mdone (loop $maxes
        (br_if $mdone (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $max (f32.max (local.get $max) (f32.load (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $maxes)))
      (local.set $sum (f32.const 0))
      (local.set $p (local.get $row))
      (block $edone (loop $exps
        (br_if $edone (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $e (f32.demote_f64 (call $exp (f64.promote_f32 (f32.sub (f32.load (local.get $p)) (local.get $max))))))
        (f32.store (local.get $p) (local.get $e))
        (local.set $sum (f32.add (local.get $sum) (local.get $e)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $exps)))
      (local.set $p (local.get $row))
      (block $ddone (loop $divs
        (br_if $ddone (i32.ge_u (local.get $p) (local.get $end)))
        (f32.store (local.get $p) (f32.div (f32.load (local.get $p)) (local.get $sum)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $divs)))
      (local.set $row (local.get $end))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rows)))
  )

  ;; exp is Go's math.Exp as Go compiles it for wasm (exp, expmulti and
  ;; Ldexp of the math package), the same float64 operations in the same
  ;; order.
  (func $exp (param $x f64) (result f64)
    (local $k i32) (local $hi f64) (local $lo f64) (local $r f64) (local $t f64) (local $c f64) (local $y f64)
    (local $bits i64) (local $e i32)
    (if (f64.ne (local.get $x) (local.get $x)) (then (return (local.get $x))))
    (if (f64.gt (local.get $x) (f64.const 7.09782712893383973096e+02)) (then (return (f64.const inf))))
    (if (f64.lt (local.get $x) (f64.const -7.45133219101941108420e+02)) (then (return (f64.const 0))))
    (if (f64.lt (f64.abs (local.get $x)) (f64.const 0x1p-28)) (then (return (f64.add (f64.const 1) (local.get $x)))))
    ;; k = int(Log2e·x ∓ 0.5), truncated; hi − lo = x − k·ln 2
    (local.set $k (select
      (i32.trunc_f64_s (f64.sub (f64.mul (f64.const 1.44269504088896338700e+00) (local.get $x)) (f64.const 0.5)))
      (i32.trunc_f64_s (f64.add (f64.mul (f64.const 1.44269504088896338700e+00) (local.get $x)) (f64.const 0.5)))
      (f64.lt (local.get $x) (f64.const 0))))
    (local.set $hi (f64.sub (local.get $x) (f64.mul (f64.convert_i32_s (local.get $k)) (f64.const 6.93147180369123816490e-01))))
    (local.set $lo (f64.mul (f64.convert_i32_s (local.get $k)) (f64.const 1.90821492927058770002e-10)))
    (local.set $r (f64.sub (local.get $hi) (local.get $lo)))
    (local.set $t (f64.mul (local.get $r) (local.get $r)))
    (local.set $c (f64.sub (local.get $r) (f64.mul (local.get $t)
      (f64.add (f64.const 1.66666666666666657415e-01) (f64.mul (local.get $t)
      (f64.add (f64.const -2.77777777770155933842e-03) (f64.mul (local.get $t)
      (f64.add (f64.const 6.61375632143793436117e-05) (f64.mul (local.get $t)
      (f64.add (f64.const -1.65339022054652515390e-06) (f64.mul (local.get $t) (f64.const 4.13813679705723846039e-08))))))))))))
    (local.set $y (f64.sub (f64.const 1) (f64.sub (f64.sub (local.get $lo)
      (f64.div (f64.mul (local.get $r) (local.get $c)) (f64.sub (f64.const 2) (local.get $c)))) (local.get $hi))))
    ;; Ldexp(y, k), y a positive normal float64: e is the result's exponent
    (local.set $bits (i64.reinterpret_f64 (local.get $y)))
    (local.set $e (i32.add (local.get $k) (i32.sub (i32.wrap_i64 (i64.shr_u (local.get $bits) (i64.const 52))) (i32.const 1023))))
    (if (i32.lt_s (local.get $e) (i32.const -1075)) (then (return (f64.const 0))))
    (if (i32.gt_s (local.get $e) (i32.const 1023)) (then (return (f64.const inf))))
    (local.set $bits (i64.and (local.get $bits) (i64.const 0x800fffffffffffff)))
    (if (i32.lt_s (local.get $e) (i32.const -1022))
      (then (return (f64.mul (f64.const 0x1p-53) (f64.reinterpret_i64 (i64.or (local.get $bits)
        (i64.shl (i64.extend_i32_s (i32.add (local.get $e) (i32.const 1076))) (i64.const 52))))))))
    (f64.reinterpret_i64 (i64.or (local.get $bits) (i64.shl (i64.extend_i32_s (i32.add (local.get $e) (i32.const 1023))) (i64.const 52))))
  )

  ;; ---- helpers ----

  ;; row is the address of row r of a matrix at w (rb bytes a row), r
  ;; clamped to the last row: the lanes of rows past the end compute a copy
  ;; of it and are not stored.
  (func $row (param $w i32) (param $rb i32) (param $r i32) (param $rows i32) (result i32)
    (i32.add (local.get $w) (i32.mul (local.get $rb)
      (select (local.get $r) (i32.sub (local.get $rows) (i32.const 1)) (i32.lt_u (local.get $r) (local.get $rows))))))

  ;; store4 stores the lanes of v for the k rows left (only the first k if
  ;; k < 4) at y.
  (func $store4 (param $y i32) (param $v v128) (param $k i32)
    (if (i32.ge_u (local.get $k) (i32.const 4))
      (then (v128.store (local.get $y) (local.get $v)) (return)))
    (f32.store (local.get $y) (f32x4.extract_lane 0 (local.get $v)))
    (if (i32.ge_u (local.get $k) (i32.const 2)) (then (f32.store offset=4 (local.get $y) (f32x4.extract_lane 1 (local.get $v)))))
    (if (i32.ge_u (local.get $k) (i32.const 3)) (then (f32.store offset=8 (local.get $y) (f32x4.extract_lane 2 (local.get $v))))))

  ;; fsum4 returns [Σa, Σb, Σc, Σd], each the sum of a vector's four
  ;; float32 lanes in Go's order (s0+s1)+(s2+s3), dotF32Generic's last line.
  (func $fsum4 (param $a v128) (param $b v128) (param $c v128) (param $d v128) (result v128)
    (local $p v128) (local $q v128)
    (local.set $p (f32x4.add
      (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a) (local.get $b))
      (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a) (local.get $b))))
    (local.set $q (f32x4.add
      (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $c) (local.get $d))
      (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $c) (local.get $d))))
    (f32x4.add
      (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $p) (local.get $q))
      (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $p) (local.get $q))))

  ;; halves converts count 16-bit floats of each of four rows (at p0..p3,
  ;; then every stride bytes) to float32, exactly as quant.F16ToF32 (or
  ;; BF16ToF32 when bf): out[i] = [row0's i-th, row1's, row2's, row3's].
  ;; A float16's exponent and mantissa are shifted into place and rescaled
  ;; by 2^112 (exact, subnormals included); infinities and NaNs are rebuilt
  ;; and the sign put back.
  (func $halves (param $p0 i32) (param $p1 i32) (param $p2 i32) (param $p3 i32) (param $stride i32)
    (param $count i32) (param $bf i32) (param $out i32)
    (local $end i32) (local $h v128) (local $em v128)
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $count) (i32.const 4))))
    (block $done (loop $values
      (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
      (local.set $h (v128.load16_lane 6 (local.get $p3) (v128.load16_lane 4 (local.get $p2)
        (v128.load16_lane 2 (local.get $p1) (v128.load16_lane 0 (local.get $p0) (v128.const i32x4 0 0 0 0))))))
      (if (local.get $bf)
        (then (v128.store (local.get $out) (i32x4.shl (local.get $h) (i32.const 16))))
        (else
          (local.set $em (i32x4.shl (v128.and (local.get $h) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff)) (i32.const 13)))
          (v128.store (local.get $out) (v128.or
            (v128.bitselect
              (v128.or (local.get $em) (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))
              (f32x4.mul (local.get $em) (v128.const f32x4 0x1p112 0x1p112 0x1p112 0x1p112))
              (i32x4.ge_u (local.get $em) (v128.const i32x4 0x0f800000 0x0f800000 0x0f800000 0x0f800000)))
            (i32x4.shl (v128.and (local.get $h) (v128.const i32x4 0x8000 0x8000 0x8000 0x8000)) (i32.const 16))))))
      (local.set $p0 (i32.add (local.get $p0) (local.get $stride)))
      (local.set $p1 (i32.add (local.get $p1) (local.get $stride)))
      (local.set $p2 (i32.add (local.get $p2) (local.get $stride)))
      (local.set $p3 (i32.add (local.get $p3) (local.get $stride)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br $values)))
  )

  ;; partials8 writes, for nb blocks of one row's int8 codes (32 at c,
  ;; then every stride bytes) times the activation codes at x, four i32
  ;; partial sums of Σ code·x per block: out[k] (16 bytes each).
  ;; |code·x| ≤ 128·127, so two products add in 16 bits before widening.
  (func $partials8 (param $c i32) (param $stride i32) (param $x i32) (param $nb i32) (param $out i32)
    (local $end i32) (local $l v128) (local $h v128) (local $xl v128) (local $xh v128)
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $nb) (i32.const 4))))
    (block $done (loop $blocks
      (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
      (local.set $l (v128.load (local.get $c)))
      (local.set $h (v128.load offset=16 (local.get $c)))
      (local.set $xl (v128.load (local.get $x)))
      (local.set $xh (v128.load offset=16 (local.get $x)))
      (v128.store (local.get $out) (i32x4.add
        (i32x4.extadd_pairwise_i16x8_s (i16x8.add
          (i16x8.extmul_low_i8x16_s (local.get $l) (local.get $xl)) (i16x8.extmul_high_i8x16_s (local.get $l) (local.get $xl))))
        (i32x4.extadd_pairwise_i16x8_s (i16x8.add
          (i16x8.extmul_low_i8x16_s (local.get $h) (local.get $xh)) (i16x8.extmul_high_i8x16_s (local.get $h) (local.get $xh))))))
      (local.set $c (i32.add (local.get $c) (local.get $stride)))
      (local.set $x (i32.add (local.get $x) (i32.const 32)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br $blocks)))
  )

  ;; partials8x4 is partials8 for four rows at once (codes at p0..p3, then
  ;; every stride bytes; their partial sums at out, out + 16·nb, …), with
  ;; relaxed SIMD's dot product, whose second operand must lie in [0, 127]
  ;; to be the same on every engine. With m = −1 where x < 0 (else 0) and
  ;; |x| ≤ 127 (quantize's codes), code·x = (code ⊕ m)·|x| − m·|x| exactly,
  ;; for every int8 code; neg = −Σ m·|x| is the vector's alone, computed
  ;; once for the four rows, and starts each row's sum.
;;@relaxed  (func $partials8x4 (param $p0 i32) (param $p1 i32) (param $p2 i32) (param $p3 i32) (param $stride i32) (param $x i32) (param $nb i32) (param $out i32)
;;@relaxed    (local $size i32) (local $end i32) (local $xl v128) (local $xh v128) (local $ml v128) (local $mh v128) (local $al v128) (local $ah v128) (local $neg v128)
;;@relaxed    (local.set $size (i32.shl (local.get $nb) (i32.const 4)))
;;@relaxed    (local.set $end (i32.add (local.get $out) (local.get $size)))
;;@relaxed    (block $done (loop $blocks
;;@relaxed      (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
;;@relaxed      (local.set $xl (v128.load (local.get $x)))
;;@relaxed      (local.set $xh (v128.load offset=16 (local.get $x)))
;;@relaxed      (local.set $ml (i8x16.shr_s (local.get $xl) (i32.const 7)))
;;@relaxed      (local.set $mh (i8x16.shr_s (local.get $xh) (i32.const 7)))
;;@relaxed      (local.set $al (i8x16.abs (local.get $xl)))
;;@relaxed      (local.set $ah (i8x16.abs (local.get $xh)))
;;@relaxed      (local.set $neg (i32x4.neg (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $mh) (local.get $ah)
;;@relaxed        (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $ml) (local.get $al) (v128.const i32x4 0 0 0 0)))))
;;@relaxed      (v128.store (local.get $out)
;;@relaxed        (i32x4.relaxed_dot_i8x16_i7x16_add_s (v128.xor (v128.load offset=16 (local.get $p0)) (local.get $mh)) (local.get $ah)
;;@relaxed          (i32x4.relaxed_dot_i8x16_i7x16_add_s (v128.xor (v128.load (local.get $p0)) (local.get $ml)) (local.get $al) (local.get $neg))))
;;@relaxed      (v128.store (i32.add (local.get $out) (local.get $size))
;;@relaxed        (i32x4.relaxed_dot_i8x16_i7x16_add_s (v128.xor (v128.load offset=16 (local.get $p1)) (local.get $mh)) (local.get $ah)
;;@relaxed          (i32x4.relaxed_dot_i8x16_i7x16_add_s (v128.xor (v128.load (local.get $p1)) (local.get $ml)) (local.get $al) (local.get $neg))))
;;@relaxed      (v128.store (i32.add (local.get $out) (i32.shl (local.get $size) (i32.const 1)))
;;@relaxed        (i32x4.relaxed_dot_i8x16_i7x16_add_s (v128.xor (v128.load offset=16 (local.get $p2)) (local.get $mh)) (local.get $ah)
;;@relaxed          (i32x4.relaxed_dot_i8x16_i7x16_add_s (v128.xor (v128.load (local.get $p2)) (local.get $ml)) (local.get $al) (local.get $neg))))
;;@relaxed      (v128.store (i32.add (local.get $out) (i32.mul (local.get $size) (i32.const 3)))
;;@relaxed        (i32x4.relaxed_dot_i8x16_i7x16_add_s (v128.xor (v128.load offset=16 (local.get $p3)) (local.get $mh)) (local.get $ah)
;;@relaxed          (i32x4.relaxed_dot_i8x16_i7x16_add_s (v128.xor (v128.load (local.get $p3)) (local.get $ml)) (local.get $al) (local.get $neg))))
;;@relaxed      (local.set $p0 (i32.add (local.get $p0) (local.get $stride)))
;;@relaxed      (local.set $p1 (i32.add (local.get $p1) (local.get $stride)))
;;@relaxed      (local.set $p2 (i32.add (local.get $p2) (local.get $stride)))
;;@relaxed      (local.set $p3 (i32.add (local.get $p3) (local.get $stride)))
;;@relaxed      (local.set $x (i32.add (local.get $x) (i32.const 32)))
;;@relaxed      (local.set $out (i32.add (local.get $out) (i32.const 16)))
;;@relaxed      (br $blocks)))
;;@relaxed  )

  ;; partials4 is partials8 for 4-bit codes (16 bytes a block: code j in
  ;; the low nibble of byte j, code j+16 in the high one), in [0, 15]. They
  ;; fit relaxed SIMD's 7-bit operand, so its dot product is exact on every
  ;; engine; with SIMD128 alone four products add in 16 bits (≤ 4·15·127).
  (func $partials4 (param $c i32) (param $stride i32) (param $x i32) (param $nb i32) (param $out i32)
    (local $end i32) (local $v v128) (local $lo v128) (local $hi v128) (local $xl v128) (local $xh v128)
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $nb) (i32.const 4))))
    (block $done (loop $blocks
      (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
      (local.set $v (v128.load (local.get $c)))
      (local.set $lo (v128.and (local.get $v) (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15)))
      (local.set $hi (i8x16.shr_u (local.get $v) (i32.const 4)))
      (local.set $xl (v128.load (local.get $x)))
      (local.set $xh (v128.load offset=16 (local.get $x)))
;;@relaxed      (v128.store (local.get $out) (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $xh) (local.get $hi)
;;@relaxed        (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $xl) (local.get $lo) (v128.const i32x4 0 0 0 0))))
;;@simd128      (v128.store (local.get $out) (i32x4.extadd_pairwise_i16x8_s (i16x8.add
;;@simd128        (i16x8.add (i16x8.extmul_low_i8x16_s (local.get $lo) (local.get $xl)) (i16x8.extmul_high_i8x16_s (local.get $lo) (local.get $xl)))
;;@simd128        (i16x8.add (i16x8.extmul_low_i8x16_s (local.get $hi) (local.get $xh)) (i16x8.extmul_high_i8x16_s (local.get $hi) (local.get $xh))))))
      (local.set $c (i32.add (local.get $c) (local.get $stride)))
      (local.set $x (i32.add (local.get $x) (i32.const 32)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br $blocks)))
  )

  ;; sums writes the exact integer dot products of nb blocks of four rows
  ;; (codes at p0..p3, then every stride bytes; 4 or 8 bits) with one
  ;; vector's codes x: sums[k] = [S0..S3], S_j = Σ q·x over row j's block
  ;; k, with q the signed codes: for 4 bits q = code − 8, so
  ;; S = Σ code·x − 8·xsum_k (Q4_0 and int4). It uses the 64·nb bytes past
  ;; the results for the rows' partial sums.
  (func $sums (param $p0 i32) (param $p1 i32) (param $p2 i32) (param $p3 i32) (param $stride i32)
    (param $x i32) (param $xsum i32) (param $nb i32) (param $four i32) (param $sums i32)
    (local $a i32) (local $b i32) (local $c i32) (local $d i32) (local $end i32) (local $u v128) (local $v v128) (local $S v128)
    (local.set $a (i32.add (local.get $sums) (i32.shl (local.get $nb) (i32.const 4))))
    (local.set $b (i32.add (local.get $a) (i32.shl (local.get $nb) (i32.const 4))))
    (local.set $c (i32.add (local.get $b) (i32.shl (local.get $nb) (i32.const 4))))
    (local.set $d (i32.add (local.get $c) (i32.shl (local.get $nb) (i32.const 4))))
    (if (local.get $four)
      (then
        (call $partials4 (local.get $p0) (local.get $stride) (local.get $x) (local.get $nb) (local.get $a))
        (call $partials4 (local.get $p1) (local.get $stride) (local.get $x) (local.get $nb) (local.get $b))
        (call $partials4 (local.get $p2) (local.get $stride) (local.get $x) (local.get $nb) (local.get $c))
        (call $partials4 (local.get $p3) (local.get $stride) (local.get $x) (local.get $nb) (local.get $d)))
      (else
;;@simd128        (call $partials8 (local.get $p0) (local.get $stride) (local.get $x) (local.get $nb) (local.get $a))
;;@simd128        (call $partials8 (local.get $p1) (local.get $stride) (local.get $x) (local.get $nb) (local.get $b))
;;@simd128        (call $partials8 (local.get $p2) (local.get $stride) (local.get $x) (local.get $nb) (local.get $c))
;;@simd128        (call $partials8 (local.get $p3) (local.get $stride) (local.get $x) (local.get $nb) (local.get $d))
;;@relaxed        (call $partials8x4 (local.get $p0) (local.get $p1) (local.get $p2) (local.get $p3) (local.get $stride) (local.get $x) (local.get $nb) (local.get $a))
      ))
    (local.set $end (i32.add (local.get $sums) (i32.shl (local.get $nb) (i32.const 4))))
    (block $done (loop $blocks
      (br_if $done (i32.ge_u (local.get $sums) (local.get $end)))
      ;; a 4×4 transpose-add: lane j = Σ of row j's four partial sums
      (local.set $u (i32x4.add
        (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (v128.load (local.get $a)) (v128.load (local.get $b)))
        (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (v128.load (local.get $a)) (v128.load (local.get $b)))))
      (local.set $v (i32x4.add
        (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (v128.load (local.get $c)) (v128.load (local.get $d)))
        (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (v128.load (local.get $c)) (v128.load (local.get $d)))))
      (local.set $S (i32x4.add
        (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $u) (local.get $v))
        (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $u) (local.get $v))))
      (if (local.get $four)
        (then (local.set $S (i32x4.sub (local.get $S) (i32x4.splat (i32.shl (i32.load (local.get $xsum)) (i32.const 3)))))))
      (v128.store (local.get $sums) (local.get $S))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (local.set $c (i32.add (local.get $c) (i32.const 16)))
      (local.set $d (i32.add (local.get $d) (i32.const 16)))
      (local.set $xsum (i32.add (local.get $xsum) (i32.const 4)))
      (local.set $sums (i32.add (local.get $sums) (i32.const 16)))
      (br $blocks)))
  )

  ;; ---- matrix kernels: y[t·rows + r] = row r · vector t, four rows at a time ----
  ;; Each computes rows [r, r1) of matrix m, r a multiple of 4.

  ;; mm_f32 reproduces dotF32Generic: per row, lane j of a vector
  ;; accumulator is Go's s_j (elements i+j); the elements past the last
  ;; multiple of 4 go to s0; then (s0+s1)+(s2+s3). Rows are rowBytes apart
  ;; (more than 4·cols for rows of a KV cache: quant.DotRows).
  (func $mm_f32 (param $m i32) (param $cols i32) (param $n i32) (param $x i32) (param $r i32) (param $r1 i32)
    (local $w i32) (local $stride i32) (local $rows i32) (local $y i32) (local $rb i32) (local $c4 i32) (local $t i32) (local $i i32) (local $xt i32) (local $out i32)
    (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32) (local $xi f32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $xv v128)
    (local.set $rows (i32.load offset=16 (local.get $m)))
    (local.set $w (i32.load offset=24 (local.get $m)))
    (local.set $y (i32.load offset=28 (local.get $m)))
    (local.set $stride (i32.load offset=20 (local.get $m)))
    (local.set $rb (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $c4 (i32.and (local.get $rb) (i32.const -16)))
    (block $rdone (loop $quads
      (br_if $rdone (i32.ge_u (local.get $r) (local.get $r1)))
      (local.set $p0 (call $row (local.get $w) (local.get $stride) (local.get $r) (local.get $rows)))
      (local.set $p1 (call $row (local.get $w) (local.get $stride) (i32.add (local.get $r) (i32.const 1)) (local.get $rows)))
      (local.set $p2 (call $row (local.get $w) (local.get $stride) (i32.add (local.get $r) (i32.const 2)) (local.get $rows)))
      (local.set $p3 (call $row (local.get $w) (local.get $stride) (i32.add (local.get $r) (i32.const 3)) (local.get $rows)))
      (local.set $xt (local.get $x))
      (local.set $out (i32.add (local.get $y) (i32.shl (local.get $r) (i32.const 2))))
      (local.set $t (i32.const 0))
      (block $tdone (loop $vectors
        (br_if $tdone (i32.ge_u (local.get $t) (local.get $n)))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $a1 (v128.const i32x4 0 0 0 0))
        (local.set $a2 (v128.const i32x4 0 0 0 0))
        (local.set $a3 (v128.const i32x4 0 0 0 0))
        (local.set $i (i32.const 0))
        (block $idone (loop $elems
          (br_if $idone (i32.ge_u (local.get $i) (local.get $c4)))
          (local.set $xv (v128.load (i32.add (local.get $xt) (local.get $i))))
          (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load (i32.add (local.get $p0) (local.get $i))) (local.get $xv))))
          (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (v128.load (i32.add (local.get $p1) (local.get $i))) (local.get $xv))))
          (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (v128.load (i32.add (local.get $p2) (local.get $i))) (local.get $xv))))
          (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (v128.load (i32.add (local.get $p3) (local.get $i))) (local.get $xv))))
          (local.set $i (i32.add (local.get $i) (i32.const 16)))
          (br $elems)))
        (block $tailed (loop $tail
          (br_if $tailed (i32.ge_u (local.get $i) (local.get $rb)))
          (local.set $xi (f32.load (i32.add (local.get $xt) (local.get $i))))
          (local.set $a0 (f32x4.replace_lane 0 (local.get $a0) (f32.add (f32x4.extract_lane 0 (local.get $a0))
            (f32.mul (f32.load (i32.add (local.get $p0) (local.get $i))) (local.get $xi)))))
          (local.set $a1 (f32x4.replace_lane 0 (local.get $a1) (f32.add (f32x4.extract_lane 0 (local.get $a1))
            (f32.mul (f32.load (i32.add (local.get $p1) (local.get $i))) (local.get $xi)))))
          (local.set $a2 (f32x4.replace_lane 0 (local.get $a2) (f32.add (f32x4.extract_lane 0 (local.get $a2))
            (f32.mul (f32.load (i32.add (local.get $p2) (local.get $i))) (local.get $xi)))))
          (local.set $a3 (f32x4.replace_lane 0 (local.get $a3) (f32.add (f32x4.extract_lane 0 (local.get $a3))
            (f32.mul (f32.load (i32.add (local.get $p3) (local.get $i))) (local.get $xi)))))
          (local.set $i (i32.add (local.get $i) (i32.const 4)))
          (br $tail)))
        (call $store4 (local.get $out) (call $fsum4 (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3))
          (i32.sub (local.get $rows) (local.get $r)))
        (local.set $xt (i32.add (local.get $xt) (local.get $rb)))
        (local.set $out (i32.add (local.get $out) (i32.shl (local.get $rows) (i32.const 2))))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $vectors)))
      (local.set $r (i32.add (local.get $r) (i32.const 4)))
      (br $quads)))
  )

  ;; mm_sum reproduces quant.AddRows: y[t·width + i] += a_t[j]·row_j[i] for
  ;; each of count rows (rowBytes apart) in order, a_t the vector t (x, cols
  ;; values apart); elements [r, r1) (r1 − r a multiple of 4), four lanes
  ;; at a time, each lane Go's chain of one element.
  (func $mm_sum (param $m i32) (param $cols i32) (param $n i32) (param $x i32) (param $r i32) (param $r1 i32)
    (local $width i32) (local $stride i32) (local $count i32) (local $w i32) (local $y i32)
    (local $t i32) (local $xt i32) (local $p i32) (local $a i32) (local $end i32) (local $out i32) (local $acc v128)
    (local.set $width (i32.load offset=16 (local.get $m)))
    (local.set $count (i32.load offset=8 (local.get $m)))
    (local.set $stride (i32.load offset=20 (local.get $m)))
    (local.set $w (i32.load offset=24 (local.get $m)))
    (local.set $y (i32.load offset=28 (local.get $m)))
    (block $rdone (loop $quads
      (br_if $rdone (i32.ge_u (local.get $r) (local.get $r1)))
      (local.set $t (i32.const 0))
      (local.set $xt (local.get $x))
      (block $tdone (loop $vectors
        (br_if $tdone (i32.ge_u (local.get $t) (local.get $n)))
        (local.set $out (i32.add (local.get $y) (i32.shl (i32.add (i32.mul (local.get $t) (local.get $width)) (local.get $r)) (i32.const 2))))
        (local.set $acc (v128.load (local.get $out)))
        (local.set $p (i32.add (local.get $w) (i32.shl (local.get $r) (i32.const 2))))
        (local.set $a (local.get $xt))
        (local.set $end (i32.add (local.get $xt) (i32.shl (local.get $count) (i32.const 2))))
        (block $jdone (loop $terms
          (br_if $jdone (i32.ge_u (local.get $a) (local.get $end)))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load32_splat (local.get $a)) (v128.load (local.get $p)))))
          (local.set $p (i32.add (local.get $p) (local.get $stride)))
          (local.set $a (i32.add (local.get $a) (i32.const 4)))
          (br $terms)))
        (v128.store (local.get $out) (local.get $acc))
        (local.set $xt (i32.add (local.get $xt) (i32.shl (local.get $cols) (i32.const 2))))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $vectors)))
      (local.set $r (i32.add (local.get $r) (i32.const 4)))
      (br $quads)))
  )

  ;; mm_h16 reproduces dotF16Generic (dotBF16Generic for BF16 matrices):
  ;; per row s += F16ToF32(h_i)·x_i in order, a row a lane. Four rows are
  ;; converted to float32 at once (halves), for every vector.
  (func $mm_h16 (param $m i32) (param $cols i32) (param $n i32) (param $x i32) (param $work i32) (param $r i32) (param $r1 i32)
    (local $w i32) (local $rows i32) (local $y i32) (local $rb i32) (local $end i32)
    (local $t i32) (local $xt i32) (local $xi i32) (local $h i32) (local $out i32) (local $acc v128)
    (local.set $rows (i32.load offset=16 (local.get $m)))
    (local.set $w (i32.load offset=24 (local.get $m)))
    (local.set $y (i32.load offset=28 (local.get $m)))
    (local.set $rb (i32.shl (local.get $cols) (i32.const 1)))
    (local.set $end (i32.add (local.get $work) (i32.shl (local.get $cols) (i32.const 4))))
    (block $rdone (loop $quads
      (br_if $rdone (i32.ge_u (local.get $r) (local.get $r1)))
      (call $halves
        (call $row (local.get $w) (local.get $rb) (local.get $r) (local.get $rows))
        (call $row (local.get $w) (local.get $rb) (i32.add (local.get $r) (i32.const 1)) (local.get $rows))
        (call $row (local.get $w) (local.get $rb) (i32.add (local.get $r) (i32.const 2)) (local.get $rows))
        (call $row (local.get $w) (local.get $rb) (i32.add (local.get $r) (i32.const 3)) (local.get $rows))
        (i32.const 2) (local.get $cols) (i32.eq (i32.load (local.get $m)) (i32.const 2)) (local.get $work))
      (local.set $xt (local.get $x))
      (local.set $out (i32.add (local.get $y) (i32.shl (local.get $r) (i32.const 2))))
      (local.set $t (i32.const 0))
      (block $tdone (loop $vectors
        (br_if $tdone (i32.ge_u (local.get $t) (local.get $n)))
        (local.set $acc (v128.const i32x4 0 0 0 0))
        (local.set $h (local.get $work))
        (local.set $xi (local.get $xt))
        (block $idone (loop $values
          (br_if $idone (i32.ge_u (local.get $h) (local.get $end)))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load (local.get $h)) (v128.load32_splat (local.get $xi)))))
          (local.set $h (i32.add (local.get $h) (i32.const 16)))
          (local.set $xi (i32.add (local.get $xi) (i32.const 4)))
          (br $values)))
        (call $store4 (local.get $out) (local.get $acc) (i32.sub (local.get $rows) (local.get $r)))
        (local.set $xt (i32.add (local.get $xt) (i32.shl (local.get $cols) (i32.const 2))))
        (local.set $out (i32.add (local.get $out) (i32.shl (local.get $rows) (i32.const 2))))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $vectors)))
      (local.set $r (i32.add (local.get $r) (i32.const 4)))
      (br $quads)))
  )

  ;; mm_q reproduces dotQ8_0Generic and dotQ4_0Generic: per row, block by
  ;; block, sum += (d·xs)·float32(S), with the block's float16 scale d, the
  ;; activation block's scale xs and the exact integer sum S (see sums).
  (func $mm_q (param $m i32) (param $nb i32) (param $n i32) (param $job i32) (param $work i32) (param $r i32) (param $r1 i32)
    (local $four i32) (local $rows i32) (local $w i32) (local $y i32) (local $stride i32) (local $rb i32)
    (local $t i32) (local $out i32) (local $xs i32) (local $S i32) (local $D i32) (local $end i32)
    (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32) (local $acc v128)
    (local.set $four (i32.eq (i32.load (local.get $m)) (i32.const 4)))
    (local.set $rows (i32.load offset=16 (local.get $m)))
    (local.set $w (i32.load offset=24 (local.get $m)))
    (local.set $y (i32.load offset=28 (local.get $m)))
    ;; a block: the float16 d, then 32 int8 codes or 16 bytes of 4-bit ones
    (local.set $stride (select (i32.const 18) (i32.const 34) (local.get $four)))
    (local.set $rb (i32.mul (local.get $nb) (local.get $stride)))
    ;; work: the block sums (see sums), then at 80·nb the scales
    (local.set $end (i32.add (local.get $work) (i32.shl (local.get $nb) (i32.const 4))))
    (block $rdone (loop $quads
      (br_if $rdone (i32.ge_u (local.get $r) (local.get $r1)))
      (local.set $p0 (call $row (local.get $w) (local.get $rb) (local.get $r) (local.get $rows)))
      (local.set $p1 (call $row (local.get $w) (local.get $rb) (i32.add (local.get $r) (i32.const 1)) (local.get $rows)))
      (local.set $p2 (call $row (local.get $w) (local.get $rb) (i32.add (local.get $r) (i32.const 2)) (local.get $rows)))
      (local.set $p3 (call $row (local.get $w) (local.get $rb) (i32.add (local.get $r) (i32.const 3)) (local.get $rows)))
      (call $halves (local.get $p0) (local.get $p1) (local.get $p2) (local.get $p3) (local.get $stride) (local.get $nb) (i32.const 0)
        (i32.add (local.get $work) (i32.mul (local.get $nb) (i32.const 80))))
      (local.set $out (i32.add (local.get $y) (i32.shl (local.get $r) (i32.const 2))))
      (local.set $t (i32.const 0))
      (block $tdone (loop $vectors
        (br_if $tdone (i32.ge_u (local.get $t) (local.get $n)))
        (call $sums (i32.add (local.get $p0) (i32.const 2)) (i32.add (local.get $p1) (i32.const 2))
          (i32.add (local.get $p2) (i32.const 2)) (i32.add (local.get $p3) (i32.const 2)) (local.get $stride)
          (i32.add (i32.load offset=12 (local.get $job)) (i32.shl (i32.mul (local.get $t) (local.get $nb)) (i32.const 5)))
          (i32.add (i32.load offset=20 (local.get $job)) (i32.shl (i32.mul (local.get $t) (local.get $nb)) (i32.const 2)))
          (local.get $nb) (local.get $four) (local.get $work))
        (local.set $acc (v128.const i32x4 0 0 0 0))
        (local.set $xs (i32.add (i32.load offset=16 (local.get $job)) (i32.shl (i32.mul (local.get $t) (local.get $nb)) (i32.const 2))))
        (local.set $S (local.get $work))
        (local.set $D (i32.add (local.get $work) (i32.mul (local.get $nb) (i32.const 80))))
        (block $bdone (loop $blocks
          (br_if $bdone (i32.ge_u (local.get $S) (local.get $end)))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul
            (f32x4.mul (v128.load (local.get $D)) (v128.load32_splat (local.get $xs)))
            (f32x4.convert_i32x4_s (v128.load (local.get $S))))))
          (local.set $D (i32.add (local.get $D) (i32.const 16)))
          (local.set $xs (i32.add (local.get $xs) (i32.const 4)))
          (local.set $S (i32.add (local.get $S) (i32.const 16)))
          (br $blocks)))
        (call $store4 (local.get $out) (local.get $acc) (i32.sub (local.get $rows) (local.get $r)))
        (local.set $out (i32.add (local.get $out) (i32.shl (local.get $rows) (i32.const 2))))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $vectors)))
      (local.set $r (i32.add (local.get $r) (i32.const 4)))
      (br $quads)))
  )

  ;; mm_int reproduces dotInt4Generic and dotInt8Generic with intGroupSum:
  ;; per row, group by group, gs += xs_k·float32(S_k) over the group's
  ;; chunks k (S_k: see sums), out = d·gs, plus m·gx when asymmetric,
  ;; total += out. gx = Σ xs_k·float32(xsum_k) over the group's chunks is
  ;; the same for every row: it is computed first, per vector and group.
  (func $mm_int (param $m i32) (param $nb i32) (param $n i32) (param $job i32) (param $work i32) (param $gx i32) (param $r i32) (param $r1 i32)
    (local $four i32) (local $asym i32) (local $rows i32) (local $rb i32) (local $w i32) (local $y i32)
    (local $cpg i32) (local $groups i32) (local $hdr i32) (local $cb i32)
    (local $t i32) (local $k i32) (local $k1 i32) (local $out i32)
    (local $xs i32) (local $xsum i32) (local $gxt i32) (local $S i32) (local $D i32) (local $s f32)
    (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32)
    (local $gs v128) (local $o v128) (local $total v128)
    (local.set $four (i32.eq (i32.load offset=4 (local.get $m)) (i32.const 4)))
    (local.set $asym (i32.ne (i32.load offset=12 (local.get $m)) (i32.const 0)))
    (local.set $rows (i32.load offset=16 (local.get $m)))
    (local.set $rb (i32.load offset=20 (local.get $m)))
    (local.set $w (i32.load offset=24 (local.get $m)))
    (local.set $y (i32.load offset=28 (local.get $m)))
    ;; work: the chunk sums (see sums), then at 80·nb the scales d, at
    ;; 96·nb the offsets m
    ;; the row: float16 d[groups], m[groups] if asymmetric, then a chunk of
    ;; 16 (4 bits) or 32 (8 bits) bytes per block of 32 weights
    (local.set $cpg (i32.shr_u (i32.load offset=8 (local.get $m)) (i32.const 5)))
    (local.set $groups (i32.div_u (i32.add (local.get $nb) (i32.sub (local.get $cpg) (i32.const 1))) (local.get $cpg)))
    (local.set $hdr (i32.shl (local.get $groups) (i32.add (local.get $asym) (i32.const 1))))
    (local.set $cb (select (i32.const 16) (i32.const 32) (local.get $four)))
    (if (local.get $asym)
      (then
        (local.set $xs (i32.load offset=16 (local.get $job)))
        (local.set $xsum (i32.load offset=20 (local.get $job)))
        (local.set $gxt (local.get $gx))
        (local.set $t (i32.const 0))
        (block $tdone (loop $vectors
          (br_if $tdone (i32.ge_u (local.get $t) (local.get $n)))
          (local.set $k (i32.const 0))
          (block $gdone (loop $groups_l
            (br_if $gdone (i32.ge_u (local.get $k) (local.get $nb)))
            (local.set $k1 (select (i32.add (local.get $k) (local.get $cpg)) (local.get $nb)
              (i32.lt_u (i32.add (local.get $k) (local.get $cpg)) (local.get $nb))))
            (local.set $s (f32.const 0))
            (block $kdone (loop $chunks
              (br_if $kdone (i32.ge_u (local.get $k) (local.get $k1)))
              (local.set $s (f32.add (local.get $s) (f32.mul (f32.load (local.get $xs)) (f32.convert_i32_s (i32.load (local.get $xsum))))))
              (local.set $xs (i32.add (local.get $xs) (i32.const 4)))
              (local.set $xsum (i32.add (local.get $xsum) (i32.const 4)))
              (local.set $k (i32.add (local.get $k) (i32.const 1)))
              (br $chunks)))
            (f32.store (local.get $gxt) (local.get $s))
            (local.set $gxt (i32.add (local.get $gxt) (i32.const 4)))
            (br $groups_l)))
          (local.set $t (i32.add (local.get $t) (i32.const 1)))
          (br $vectors)))))
    (block $rdone (loop $quads
      (br_if $rdone (i32.ge_u (local.get $r) (local.get $r1)))
      (local.set $p0 (call $row (local.get $w) (local.get $rb) (local.get $r) (local.get $rows)))
      (local.set $p1 (call $row (local.get $w) (local.get $rb) (i32.add (local.get $r) (i32.const 1)) (local.get $rows)))
      (local.set $p2 (call $row (local.get $w) (local.get $rb) (i32.add (local.get $r) (i32.const 2)) (local.get $rows)))
      (local.set $p3 (call $row (local.get $w) (local.get $rb) (i32.add (local.get $r) (i32.const 3)) (local.get $rows)))
      (call $halves (local.get $p0) (local.get $p1) (local.get $p2) (local.get $p3) (i32.const 2) (local.get $groups) (i32.const 0)
        (i32.add (local.get $work) (i32.mul (local.get $nb) (i32.const 80))))
      (if (local.get $asym)
        (then (call $halves
          (i32.add (local.get $p0) (i32.shl (local.get $groups) (i32.const 1))) (i32.add (local.get $p1) (i32.shl (local.get $groups) (i32.const 1)))
          (i32.add (local.get $p2) (i32.shl (local.get $groups) (i32.const 1))) (i32.add (local.get $p3) (i32.shl (local.get $groups) (i32.const 1)))
          (i32.const 2) (local.get $groups) (i32.const 0) (i32.add (local.get $work) (i32.mul (local.get $nb) (i32.const 96))))))
      (local.set $out (i32.add (local.get $y) (i32.shl (local.get $r) (i32.const 2))))
      (local.set $t (i32.const 0))
      (block $tdone (loop $vectors
        (br_if $tdone (i32.ge_u (local.get $t) (local.get $n)))
        (call $sums (i32.add (local.get $p0) (local.get $hdr)) (i32.add (local.get $p1) (local.get $hdr))
          (i32.add (local.get $p2) (local.get $hdr)) (i32.add (local.get $p3) (local.get $hdr)) (local.get $cb)
          (i32.add (i32.load offset=12 (local.get $job)) (i32.shl (i32.mul (local.get $t) (local.get $nb)) (i32.const 5)))
          (i32.add (i32.load offset=20 (local.get $job)) (i32.shl (i32.mul (local.get $t) (local.get $nb)) (i32.const 2)))
          (local.get $nb) (local.get $four) (local.get $work))
        (local.set $total (v128.const i32x4 0 0 0 0))
        (local.set $xs (i32.add (i32.load offset=16 (local.get $job)) (i32.shl (i32.mul (local.get $t) (local.get $nb)) (i32.const 2))))
        (local.set $gxt (i32.add (local.get $gx) (i32.shl (i32.mul (local.get $t) (local.get $groups)) (i32.const 2))))
        (local.set $S (local.get $work))
        (local.set $D (i32.add (local.get $work) (i32.mul (local.get $nb) (i32.const 80))))
        (local.set $k (i32.const 0))
        (block $gdone (loop $groups_l
          (br_if $gdone (i32.ge_u (local.get $k) (local.get $nb)))
          (local.set $k1 (select (i32.add (local.get $k) (local.get $cpg)) (local.get $nb)
            (i32.lt_u (i32.add (local.get $k) (local.get $cpg)) (local.get $nb))))
          (local.set $gs (v128.const i32x4 0 0 0 0))
          (block $kdone (loop $chunks
            (br_if $kdone (i32.ge_u (local.get $k) (local.get $k1)))
            (local.set $gs (f32x4.add (local.get $gs) (f32x4.mul (v128.load32_splat (local.get $xs)) (f32x4.convert_i32x4_s (v128.load (local.get $S))))))
            (local.set $xs (i32.add (local.get $xs) (i32.const 4)))
            (local.set $S (i32.add (local.get $S) (i32.const 16)))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $chunks)))
          (local.set $o (f32x4.mul (local.get $gs) (v128.load (local.get $D))))
          (if (local.get $asym)
            (then (local.set $o (f32x4.add (local.get $o)
              (f32x4.mul (v128.load32_splat (local.get $gxt)) (v128.load offset=0 (i32.add (local.get $D) (i32.shl (local.get $nb) (i32.const 4)))))))))
          (local.set $total (f32x4.add (local.get $total) (local.get $o)))
          (local.set $gxt (i32.add (local.get $gxt) (i32.const 4)))
          (local.set $D (i32.add (local.get $D) (i32.const 16)))
          (br $groups_l)))
        (call $store4 (local.get $out) (local.get $total) (i32.sub (local.get $rows) (local.get $r)))
        (local.set $out (i32.add (local.get $out) (i32.shl (local.get $rows) (i32.const 2))))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $vectors)))
      (local.set $r (i32.add (local.get $r) (i32.const 4)))
      (br $quads)))
  )
)
