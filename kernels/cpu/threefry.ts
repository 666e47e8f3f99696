/**
 * JAX's random bits with WebAssembly SIMD (kernels/cpu/threefry.wat, assembled by
 * scripts/build-wasm.ts): four threefry2x32 blocks at a time, 4-5x the scalar loop. Returns null
 * where WebAssembly SIMD is unavailable (the caller keeps its JavaScript loop).
 * @module
 */
import { threefryWasm } from './threefry.wasm.js';

type Exports = {
  memory: WebAssembly.Memory;
  counts: (...args: [k0: number, k1: number, first: number, half: number, n: number, ...rest: number[]]) => void;
};
let exportsCache: Exports | null | undefined;

function wasm(): Exports | null {
  if (exportsCache === undefined) {
    try {
      const bytes = Uint8Array.from(atob(threefryWasm), (c) => c.charCodeAt(0));
      exportsCache = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as Exports;
    } catch {
      exportsCache = null;
    }
  }
  return exportsCache;
}

/** Blocks per call: both halves fit the module's two pages, whatever the size of the draw. */
const CHUNK = 16384;

/**
 * threefry2x32 of key `(k0, k1)` over the counters `0 .. n-1` split in halves (`x0 = i`,
 * `x1 = half + i`, the odd one out paired with 0), results concatenated: `2 * ceil(n / 2)` words,
 * or, with `uniform = [lo, span]`, JAX's uniform floats from them (see threefry.wat). Null
 * without WebAssembly SIMD.
 */
export function threefryCountsSimd(k0: number, k1: number, n: number): Uint32Array | null;
export function threefryCountsSimd(k0: number, k1: number, n: number, uniform: [number, number]): Float32Array | null;
export function threefryCountsSimd(
  k0: number,
  k1: number,
  n: number,
  uniform?: [number, number],
): Uint32Array | Float32Array | null {
  const e = wasm();
  if (!e) return null;
  const half = Math.ceil(n / 2);
  const View = uniform ? Float32Array : Uint32Array;
  const out = new View(2 * half);
  const words = new View(e.memory.buffer, 0, 2 * CHUNK);
  const [lo, span] = uniform ?? [0, 0];
  for (let first = 0; first < half; first += CHUNK) {
    const len = Math.min(CHUNK, half - first);
    e.counts(k0, k1, first, half, n, 0, 4 * CHUNK, Math.ceil(len / 4) * 4, uniform ? 1 : 0, lo, span);
    out.set(words.subarray(0, len), first);
    out.set(words.subarray(CHUNK, CHUNK + len), half + first);
  }
  return out;
}
