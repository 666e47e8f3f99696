// The committed WebAssembly kernels match their WAT sources, and the SIMD matmul agrees with plain loops.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assemble, generated } from '../scripts/build-wasm.js';
import { gemmBatched } from '../kernels/cpu/gemm.js';

describe('CPU WebAssembly kernels', () => {
  it('kernels/cpu/gemm.wasm.ts is the assembly of gemm.wat', async () => {
    expect(readFileSync('kernels/cpu/gemm.wasm.ts', 'utf8')).toBe(
      generated('gemm', await assemble('kernels/cpu/gemm.wat')),
    );
  });
  it('gemm matches an i-k-j loop on odd sizes, batched', () => {
    for (const [nb, m, k, n] of [
      [1, 1, 1, 1],
      [2, 3, 5, 7],
      [1, 17, 33, 9],
      [3, 4, 0, 6],
      [1, 5, 8, 0],
    ]) {
      const A = Float32Array.from({ length: nb * m * k }, (_, i) => Math.sin(i) * 2);
      const B = Float32Array.from({ length: nb * k * n }, (_, i) => Math.cos(i * 0.7));
      const C = gemmBatched(A, B, nb, m, k, n)!;
      expect(C).not.toBeNull();
      for (let b = 0; b < nb; b++)
        for (let i = 0; i < m; i++)
          for (let j = 0; j < n; j++) {
            let s = 0;
            for (let q = 0; q < k; q++) s += A[(b * m + i) * k + q] * B[(b * k + q) * n + j];
            expect(C[(b * m + i) * n + j]).toBeCloseTo(s, 4);
          }
    }
  });
});
