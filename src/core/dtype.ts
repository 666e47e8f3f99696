/**
 * Element types: how each is stored, how a JS number is rounded into it, and JAX's promotion
 * lattice with weak (JS-number) types.
 * @module
 */
import { DTypeError } from './errors.js';

/** Element type of an array. @category Arrays */
export type DType =
  'float64' | 'float32' | 'float16' | 'bfloat16' | 'int32' | 'int16' | 'int8' | 'uint32' | 'uint16' | 'uint8' | 'bool';

/** Every dtype, widest floats first. */
export const dtypes: readonly DType[] = [
  'float64',
  'float32',
  'float16',
  'bfloat16',
  'int32',
  'int16',
  'int8',
  'uint32',
  'uint16',
  'uint8',
  'bool',
];
export const floatDTypes: readonly DType[] = ['float64', 'float32', 'float16', 'bfloat16'];
export const intDTypes: readonly DType[] = ['int32', 'int16', 'int8', 'uint32', 'uint16', 'uint8'];

/**
 * A typed array holding elements: as read by kernels (numbers) or as stored (float16 and bfloat16
 * as 16-bit patterns in a Uint16Array).
 */
export type TypedArray =
  Float64Array | Float32Array | Int32Array | Int16Array | Int8Array | Uint32Array | Uint16Array | Uint8Array;

interface TypedArrayClass {
  new (n: number): TypedArray;
  new (buffer: ArrayBuffer, offset?: number, length?: number): TypedArray;
  from(values: ArrayLike<number>): TypedArray;
  readonly BYTES_PER_ELEMENT: number;
}

/** The typed array each dtype is stored in. */
export const STORAGE: Record<DType, TypedArrayClass> = {
  float64: Float64Array,
  float32: Float32Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  int32: Int32Array,
  int16: Int16Array,
  int8: Int8Array,
  uint32: Uint32Array,
  uint16: Uint16Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

/** float16 and bfloat16: stored as bit patterns, computed in float32. */
export const isHalf = (d: DType): boolean => d === 'float16' || d === 'bfloat16';
export const isFloat = (d: DType): boolean => floatDTypes.includes(d);
export const isInteger = (d: DType): boolean => intDTypes.includes(d);
export const isUnsigned = (d: DType): boolean => d === 'uint32' || d === 'uint16' || d === 'uint8';
/**
 * The dtype a value computes in where a backend lacks kernels for its own (ONNX Runtime's CPU
 * provider, WGSL): float16 and bfloat16 in float32, int8/int16/uint8/uint16 in int32, every other
 * dtype in itself. Such backends round each operation's result back to the dtype, as the
 * JavaScript kernels do.
 */
export function computeDType(d: DType): DType {
  if (d === 'float16' || d === 'bfloat16') return 'float32';
  if (d === 'int16' || d === 'int8' || d === 'uint16' || d === 'uint8') return 'int32';
  return d;
}
/** Bytes per stored element. */
export const byteSize = (d: DType): number => STORAGE[d].BYTES_PER_ELEMENT;

/**
 * Allocates a zero-filled array of `size` elements as kernels write them: numbers, so float16 and
 * bfloat16 get a Float32Array (rounded to the dtype when an array is made from it).
 */
export function allocate(dtype: DType, size: number): TypedArray {
  return isHalf(dtype) ? new Float32Array(size) : new STORAGE[dtype](size);
}

/** Allocates zero-filled storage (16-bit patterns for float16 and bfloat16). */
export const allocateStorage = (dtype: DType, size: number): TypedArray => new STORAGE[dtype](size);

// ---------------------------------------------------------------- float16 and bfloat16 bits

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 bits to float16 bits, rounding to nearest even; overflow is infinity, NaN stays NaN. */
function halfBitsOf32(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  // A NaN keeps its top payload bits (quiet if none survive): patterns from float16 come back exactly.
  if (exp === 0xff) return sign | 0x7c00 | (mant ? mant >>> 13 || 0x200 : 0);
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const mid = 1 << (shift - 1);
    const rem = mant & ((1 << shift) - 1);
    let h = mant >>> shift;
    if (rem > mid || (rem === mid && h & 1)) h++;
    return sign | h;
  }
  const h = sign | (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa steps the exponent, and past the largest finite value gives infinity.
  return rem > 0x1000 || (rem === 0x1000 && h & 1) ? h + 1 : h;
}

/** float32 bits to bfloat16 bits (the top half), rounding to nearest even; NaN stays NaN. */
function bfloatBitsOf32(x: number): number {
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return (x >>> 16) & 0x7f ? x >>> 16 : (x >>> 16) | 0x40;
  return ((x >>> 0) + 0x7fff + ((x >>> 16) & 1)) >>> 16;
}

let halfTable: Uint32Array | undefined;
/** The float32 bits of all 65,536 float16 values, by bit pattern (decoding is one lookup). */
function halfAs32(): Uint32Array {
  if (halfTable) return halfTable;
  halfTable = new Uint32Array(65536);
  const value = new Float32Array(halfTable.buffer);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 31) halfTable[h] = ((h & 0x8000) << 16) | 0x7f800000 | (m << 13);
    else value[h] = e === 0 ? s * m * 2 ** -24 : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return halfTable;
}

/** The float16 bit pattern nearest to `v` (through float32). */
export function toFloat16Bits(v: number): number {
  f32[0] = v;
  return halfBitsOf32(u32[0]);
}
/** The number a float16 bit pattern stands for. */
export function fromFloat16Bits(h: number): number {
  u32[0] = halfAs32()[h & 0xffff];
  return f32[0];
}
/** The bfloat16 bit pattern nearest to `v` (through float32). */
export function toBfloat16Bits(v: number): number {
  f32[0] = v;
  return bfloatBitsOf32(u32[0]);
}
/** The number a bfloat16 bit pattern stands for. */
export function fromBfloat16Bits(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0];
}

/**
 * Elements as stored for `dtype`: numbers rounded into 16-bit patterns for float16 and bfloat16;
 * `values` itself otherwise when it already is the storage type, else converted (wrapping).
 */
export function toStorage(dtype: DType, values: TypedArray): TypedArray {
  const Storage = STORAGE[dtype];
  if (!isHalf(dtype)) return values instanceof Storage ? values : Storage.from(values as ArrayLike<number>);
  if (values instanceof Uint16Array) return values;
  const asF32 = values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number>);
  const bits = new Uint32Array(asF32.buffer, asF32.byteOffset, asF32.length);
  const out = new Uint16Array(asF32.length);
  const round = dtype === 'float16' ? halfBitsOf32 : bfloatBitsOf32;
  for (let i = 0; i < out.length; i++) out[i] = round(bits[i]);
  return out;
}

/** Stored elements as numbers: float16/bfloat16 patterns decode to a Float32Array; others are returned as they are. */
export function fromStorage(dtype: DType, storage: TypedArray): TypedArray {
  if (!isHalf(dtype)) return storage;
  const out = new Float32Array(storage.length);
  const bits = new Uint32Array(out.buffer);
  if (dtype === 'float16') {
    const table = halfAs32();
    for (let i = 0; i < out.length; i++) bits[i] = table[storage[i]];
  } else for (let i = 0; i < out.length; i++) bits[i] = storage[i] << 16;
  return out;
}

// ---------------------------------------------------------------- rounding a number into a dtype

/** Coerces a JS number to what a `dtype` element holds (rounded for floats, wrapped for ints, 0/1 for bool). */
export function coerce(dtype: DType, v: number): number {
  switch (dtype) {
    case 'float64':
      return v;
    case 'float32':
      return Math.fround(v);
    case 'float16':
      return fromFloat16Bits(toFloat16Bits(v));
    case 'bfloat16':
      return fromBfloat16Bits(toBfloat16Bits(v));
    case 'int32':
      return v | 0;
    case 'int16':
      return (v << 16) >> 16;
    case 'int8':
      return (v << 24) >> 24;
    case 'uint32':
      return v >>> 0;
    case 'uint16':
      return v & 0xffff;
    case 'uint8':
      return v & 0xff;
    case 'bool':
      return v !== 0 ? 1 : 0; // NaN is true, as in numpy and JAX
  }
}

/** The range of an integer dtype (bool: 0 to 1). */
export function intRange(d: DType): [number, number] {
  if (d === 'bool') return [0, 1];
  const bits = 8 * byteSize(d);
  return isUnsigned(d) ? [0, 2 ** bits - 1] : [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1];
}

// ---------------------------------------------------------------- promotion

/** A node of JAX's type lattice: a dtype, a weak JS number (`int`, `float`) or a 64-bit integer. */
type Node = DType | 'int' | 'float' | 'int64' | 'uint64';
/** JAX's promotion lattice (jax._src.dtypes): each node's immediate successors. */
const LATTICE: Record<Node, Node[]> = {
  bool: ['int'],
  int: ['uint8', 'int8'],
  uint8: ['int16', 'uint16'],
  uint16: ['int32', 'uint32'],
  uint32: ['int64', 'uint64'],
  uint64: ['float'],
  int8: ['int16'],
  int16: ['int32'],
  int32: ['int64'],
  int64: ['float'],
  float: ['bfloat16', 'float16'],
  bfloat16: ['float32'],
  float16: ['float32'],
  float32: ['float64'],
  float64: [],
};
const upperBounds = new Map<Node, Set<Node>>();
function above(n: Node): Set<Node> {
  let s = upperBounds.get(n);
  if (!s) {
    s = new Set([n]);
    for (const m of LATTICE[n]) for (const k of above(m)) s.add(k);
    upperBounds.set(n, s);
  }
  return s;
}
/** The least upper bound of lattice nodes. */
function join(nodes: readonly Node[]): Node {
  let common = [...above(nodes[0])];
  for (const n of nodes.slice(1)) common = common.filter((c) => above(n).has(c));
  // The least element is the one every other common bound is above.
  return common.find((c) => common.every((d) => above(c).has(d)))!;
}
/** 64-bit integers stay out of the array model: they become their 32-bit kind (JAX without x64). */
const CANONICAL: Partial<Record<Node, DType>> = { int: 'int32', float: 'float32', int64: 'int32', uint64: 'uint32' };

/**
 * Result dtype of combining arrays of the given dtypes, with JAX's lattice (`int8 + uint8` is
 * int16, `bfloat16 + float16` is float32). `weak` lists the kinds of JS-number operands: weakly
 * typed, they never widen an array's dtype of their kind (`float16_array * 2` stays float16), and
 * alone they give int32 or float32.
 */
export function promote(dtypesIn: readonly DType[], weak: readonly ('int' | 'float' | 'bool')[] = []): DType {
  const nodes: Node[] = [...dtypesIn, ...weak.map((w) => (w === 'bool' ? 'bool' : w))];
  if (!nodes.length) return 'bool';
  const j = join(nodes);
  return CANONICAL[j] ?? (j as DType);
}

/** Throws unless `dtype` is one of `allowed`. */
export function checkDType(op: string, dtype: DType, allowed: readonly DType[]): void {
  if (!allowed.includes(dtype)) {
    throw new DTypeError(`${op}: dtype ${dtype} is not supported (expected one of ${allowed.join(', ')})`);
  }
}

/** Is `x` a dtype name? */
export const isDType = (x: unknown): x is DType => typeof x === 'string' && (dtypes as string[]).includes(x);
