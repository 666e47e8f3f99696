/**
 * Element types and their promotion rules.
 * @module
 */
import { DTypeError } from './errors.js';

/** Element type of an array. `float16` is reserved for devices that support it. @category Arrays */
export type DType = 'float32' | 'int32' | 'uint32' | 'bool' | 'float16';

/** The dtypes every backend supports. */
export const dtypes: readonly DType[] = ['float32', 'int32', 'uint32', 'bool'];

/** Typed array that stores each dtype on the CPU. */
export type TypedArray = Float32Array | Int32Array | Uint32Array | Uint8Array;

/** Allocates a zero-filled typed array for `dtype`. */
export function allocate(dtype: DType, size: number): TypedArray {
  switch (dtype) {
    case 'float32':
    case 'float16':
      return new Float32Array(size);
    case 'int32':
      return new Int32Array(size);
    case 'uint32':
      return new Uint32Array(size);
    case 'bool':
      return new Uint8Array(size);
  }
}

export const isFloat = (d: DType): boolean => d === 'float32' || d === 'float16';
export const byteSize = (d: DType): number => (d === 'bool' ? 1 : d === 'float16' ? 2 : 4);

/** Coerces a JS number to what a `dtype` element holds (wrap for ints, 0/1 for bool). */
export function coerce(dtype: DType, v: number): number {
  switch (dtype) {
    case 'int32':
      return v | 0;
    case 'uint32':
      return v >>> 0;
    case 'bool':
      return v !== 0 ? 1 : 0; // NaN is true, as in numpy and JAX
    default:
      return Math.fround(v);
  }
}

const rank: Record<DType, number> = { bool: 0, uint32: 1, int32: 2, float16: 3, float32: 4 };

/**
 * Result dtype of combining arrays of the given dtypes (JAX-like lattice: bool < uint32 <
 * int32 < float16 < float32). `weak` lists the kinds of JS-number operands: a weak int never
 * widens an array's dtype, a weak float makes an integer result float32.
 */
export function promote(dtypesIn: readonly DType[], weak: readonly ('int' | 'float' | 'bool')[] = []): DType {
  let best: DType | undefined;
  for (const d of dtypesIn) if (best === undefined || rank[d] > rank[best]) best = d;
  if (best === undefined) {
    if (weak.includes('float')) return 'float32';
    if (weak.includes('int')) return 'int32';
    return 'bool';
  }
  if (weak.includes('float') && !isFloat(best)) return 'float32';
  if (weak.includes('int') && best === 'bool') return 'int32';
  return best;
}

/** Throws unless `dtype` is one of `allowed`. */
export function checkDType(op: string, dtype: DType, allowed: readonly DType[]): void {
  if (!allowed.includes(dtype)) {
    throw new DTypeError(`${op}: dtype ${dtype} is not supported (expected one of ${allowed.join(', ')})`);
  }
}
