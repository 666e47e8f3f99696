// The committed WebAssembly kernels match their WAT sources, and each agrees with its plain loops.
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assemble, generated } from '../scripts/build-wasm.js';
import { gemmBatched } from '../kernels/cpu/gemm.js';
import { threefryCounts, uniformCounts } from '../src/primitives/random.js';

describe('CPU WebAssembly kernels', () => {
  it('each kernels/cpu/*.wasm.ts is the assembly of its .wat', async () => {
    const sources = readdirSync('kernels/cpu').filter((f) => f.endsWith('.wat'));
    expect(sources).toEqual(['gemm.wat', 'threefry.wat']);
    for (const f of sources) {
      const name = f.replace(/\.wat$/, '');
      expect(readFileSync(`kernels/cpu/${name}.wasm.ts`, 'utf8')).toBe(
        generated(name, await assemble(`kernels/cpu/${f}`)),
      );
    }
  });
  it('threefry bits and uniform floats equal the scalar loops bit for bit: sizes across chunks, keys, bounds', () => {
    const bitsOf = (x: Float32Array) => new Uint32Array(x.buffer, x.byteOffset, x.length);
    // The first index where two arrays differ, -1 if none (toEqual on 65k elements is slow).
    const firstDifference = (a: Uint32Array, b: Uint32Array) =>
      a.length === b.length ? a.findIndex((v, i) => v !== b[i]) : Math.min(a.length, b.length);
    for (const n of [0, 1, 2, 3, 7, 9, 33, 32767, 32768, 32769, 65537])
      for (const [k0, k1] of [
        [0, 0],
        [0xffffffff, 42],
        [123456789, 0x9e3779b9],
      ]) {
        expect(firstDifference(threefryCounts(k0, k1, n, true), threefryCounts(k0, k1, n, false))).toBe(-1);
        for (const [lo, hi] of [
          [0, 1],
          [-0.1, 0.37],
          [-1e-30, 1e30],
          [5, 5],
          [-0, 1],
          [NaN, 1],
        ]) {
          const [l, span] = [Math.fround(lo), Math.fround(Math.fround(hi) - Math.fround(lo))];
          const [simd, scalar] = [uniformCounts(k0, k1, n, l, span, true), uniformCounts(k0, k1, n, l, span, false)];
          expect(simd.length).toBe(n);
          expect(firstDifference(bitsOf(simd), bitsOf(scalar))).toBe(-1); // NaN bounds: the same NaN bits
        }
      }
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
