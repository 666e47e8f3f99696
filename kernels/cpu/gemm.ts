/**
 * The WebAssembly SIMD matrix product behind the CPU backend's float32 dot_general
 * (kernels/cpu/gemm.wat, assembled by scripts/build-wasm.ts). Falls back to JavaScript loops
 * (returns null) where WebAssembly SIMD is unavailable.
 * @module
 */
import { gemmWasm } from './gemm.wasm.js';

type Exports = {
  memory: WebAssembly.Memory;
  gemm: (a: number, b: number, c: number, m: number, k: number, n: number) => void;
};
let exportsCache: Exports | null | undefined;

function wasm(): Exports | null {
  if (exportsCache === undefined) {
    try {
      const bytes = Uint8Array.from(atob(gemmWasm), (c) => c.charCodeAt(0));
      exportsCache = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as Exports;
    } catch {
      exportsCache = null;
    }
  }
  return exportsCache;
}

/**
 * `C[b] = A[b] . B[b]` for contiguous float32 `A [nb, m, k]`, `B [nb, k, n]`; returns
 * `C [nb, m, n]`, or null without WebAssembly SIMD.
 */
export function gemmBatched(
  A: ArrayLike<number>,
  B: ArrayLike<number>,
  nb: number,
  m: number,
  k: number,
  n: number,
): Float32Array | null {
  const e = wasm();
  if (!e) return null;
  const sa = nb * m * k,
    sb = nb * k * n,
    sc = nb * m * n;
  const bytes = 4 * (sa + sb + sc);
  const have = e.memory.buffer.byteLength;
  if (have < bytes) e.memory.grow(Math.ceil((bytes - have) / 65536));
  const mem = new Float32Array(e.memory.buffer);
  mem.set(A as Float32Array, 0);
  mem.set(B as Float32Array, sa);
  mem.fill(0, sa + sb, sa + sb + sc);
  for (let bi = 0; bi < nb; bi++) e.gemm(4 * bi * m * k, 4 * (sa + bi * k * n), 4 * (sa + sb + bi * m * n), m, k, n);
  return mem.slice(sa + sb, sa + sb + sc);
}
