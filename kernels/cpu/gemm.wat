;; CPU matrix product with WebAssembly SIMD: C[m,n] += A[m,k] . B[k,n], row-major float32 at
;; byte offsets a, b, c of the module's memory. i-k-j order: each A element is splatted and
;; multiplied into a row of B, four columns per f32x4, two k steps per pass over the C row.
(module
  (memory (export "memory") 1)
  (func (export "gemm") (param $a i32) (param $b i32) (param $c i32) (param $m i32) (param $k i32) (param $n i32)
    (local $i i32) (local $kk i32) (local $j i32) (local $n4 i32) (local $k2 i32)
    (local $crow i32) (local $arow i32) (local $b0 i32) (local $b1 i32) (local $at i32)
    (local $s0 f32) (local $s1 f32) (local $v0 v128) (local $v1 v128)
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (local.set $k2 (i32.and (local.get $k) (i32.const -2)))
    (block $iend (loop $iloop
      (br_if $iend (i32.ge_u (local.get $i) (local.get $m)))
      (local.set $crow (i32.add (local.get $c) (i32.shl (i32.mul (local.get $i) (local.get $n)) (i32.const 2))))
      (local.set $arow (i32.add (local.get $a) (i32.shl (i32.mul (local.get $i) (local.get $k)) (i32.const 2))))
      (local.set $kk (i32.const 0))
      ;; two rows of B per pass
      (block $kend (loop $kloop
        (br_if $kend (i32.ge_u (local.get $kk) (local.get $k2)))
        (local.set $s0 (f32.load (i32.add (local.get $arow) (i32.shl (local.get $kk) (i32.const 2)))))
        (local.set $s1 (f32.load offset=4 (i32.add (local.get $arow) (i32.shl (local.get $kk) (i32.const 2)))))
        (local.set $v0 (f32x4.splat (local.get $s0)))
        (local.set $v1 (f32x4.splat (local.get $s1)))
        (local.set $b0 (i32.add (local.get $b) (i32.shl (i32.mul (local.get $kk) (local.get $n)) (i32.const 2))))
        (local.set $b1 (i32.add (local.get $b0) (i32.shl (local.get $n) (i32.const 2))))
        (local.set $j (i32.const 0))
        (block $jend (loop $jloop
          (br_if $jend (i32.ge_u (local.get $j) (local.get $n4)))
          (local.set $at (i32.shl (local.get $j) (i32.const 2)))
          (v128.store (i32.add (local.get $crow) (local.get $at))
            (f32x4.add
              (v128.load (i32.add (local.get $crow) (local.get $at)))
              (f32x4.add
                (f32x4.mul (local.get $v0) (v128.load (i32.add (local.get $b0) (local.get $at))))
                (f32x4.mul (local.get $v1) (v128.load (i32.add (local.get $b1) (local.get $at)))))))
          (local.set $j (i32.add (local.get $j) (i32.const 4)))
          (br $jloop)))
        (block $tend (loop $tloop
          (br_if $tend (i32.ge_u (local.get $j) (local.get $n)))
          (local.set $at (i32.shl (local.get $j) (i32.const 2)))
          (f32.store (i32.add (local.get $crow) (local.get $at))
            (f32.add
              (f32.load (i32.add (local.get $crow) (local.get $at)))
              (f32.add
                (f32.mul (local.get $s0) (f32.load (i32.add (local.get $b0) (local.get $at))))
                (f32.mul (local.get $s1) (f32.load (i32.add (local.get $b1) (local.get $at)))))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $tloop)))
        (local.set $kk (i32.add (local.get $kk) (i32.const 2)))
        (br $kloop)))
      ;; an odd last row of B
      (if (i32.lt_u (local.get $kk) (local.get $k))
        (then
          (local.set $s0 (f32.load (i32.add (local.get $arow) (i32.shl (local.get $kk) (i32.const 2)))))
          (local.set $v0 (f32x4.splat (local.get $s0)))
          (local.set $b0 (i32.add (local.get $b) (i32.shl (i32.mul (local.get $kk) (local.get $n)) (i32.const 2))))
          (local.set $j (i32.const 0))
          (block $jend2 (loop $jloop2
            (br_if $jend2 (i32.ge_u (local.get $j) (local.get $n4)))
            (local.set $at (i32.shl (local.get $j) (i32.const 2)))
            (v128.store (i32.add (local.get $crow) (local.get $at))
              (f32x4.add (v128.load (i32.add (local.get $crow) (local.get $at)))
                         (f32x4.mul (local.get $v0) (v128.load (i32.add (local.get $b0) (local.get $at))))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $jloop2)))
          (block $tend2 (loop $tloop2
            (br_if $tend2 (i32.ge_u (local.get $j) (local.get $n)))
            (local.set $at (i32.shl (local.get $j) (i32.const 2)))
            (f32.store (i32.add (local.get $crow) (local.get $at))
              (f32.add (f32.load (i32.add (local.get $crow) (local.get $at)))
                       (f32.mul (local.get $s0) (f32.load (i32.add (local.get $b0) (local.get $at))))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $tloop2)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $iloop)))))
