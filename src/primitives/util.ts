/**
 * Small helpers shared by the primitive definitions: CPU kernels' index arithmetic and the
 * strict array constructors that rules use (`full`, `zerosLike`, ...).
 * @module
 */
import { ConcreteArray, type ShapedArray } from '../core/array.js';
import { type DType, allocate } from '../core/dtype.js';
import { DTypeError, ShapeError, fmtShape } from '../core/errors.js';
import { type Shape, sizeOf, stridesOf } from '../core/shape.js';
import { type Params, type Primitive, definePrimitive } from '../core/primitive.js';
import { bind } from '../core/trace.js';

/**
 * Advances a row-major multi-index over `shape` by one step from axis `last` down, keeping
 * `off` = sum(idx[k] * strides[k]) in step; returns the new offset. The odometer of the
 * strided CPU kernels.
 */
export function advance(
  idx: number[],
  shape: Shape,
  strides: readonly number[],
  off: number,
  last = shape.length - 1,
): number {
  for (let k = last; k >= 0; k--) {
    idx[k]++;
    off += strides[k];
    if (idx[k] < shape[k]) return off;
    off -= strides[k] * shape[k];
    idx[k] = 0;
  }
  return off;
}

/**
 * For each output element (row-major over `outShape`), the flat offset into an input whose
 * axis `k` has stride `strides[k]` and start `offset`: index tables for the strided kernels.
 */
export function stridedOffsets(outShape: Shape, strides: readonly number[], offset = 0): Int32Array {
  const n = sizeOf(outShape);
  const res = new Int32Array(n);
  const idx = new globalThis.Array<number>(outShape.length).fill(0);
  let off = offset;
  for (let i = 0; i < n; i++) {
    res[i] = off;
    off = advance(idx, outShape, strides, off);
  }
  return res;
}

/**
 * A strided view of `x` copied out: output element at multi-index i reads
 * `offset + sum_k i_k * strides[k]`. The last axis runs in a tight loop.
 */
export function stridedCopy(
  x: ConcreteArray,
  outShape: Shape,
  outStrides: readonly number[],
  offset = 0,
): ConcreteArray {
  const n = sizeOf(outShape);
  const [shape, strides] = mergeAxes(outShape, outStrides);
  const out = allocate(x.dtype, n);
  const src = x.buffer;
  const nd = shape.length;
  if (nd === 0) {
    if (n) out[0] = src[offset];
    return new ConcreteArray(out, outShape, x.dtype);
  }
  const last = shape[nd - 1],
    ls = strides[nd - 1];
  const rows = last === 0 ? 0 : n / last;
  const idx = new globalThis.Array<number>(nd).fill(0);
  let base = offset;
  let o = 0;
  for (let r = 0; r < rows; r++) {
    // Contiguous rows copy as blocks and broadcast ones as fills (both native loops).
    if (ls === 1) out.set(src.subarray(base, base + last), o);
    else if (ls === 0) out.fill(src[base], o, o + last);
    else for (let j = 0, at = base; j < last; j++, at += ls) out[o + j] = src[at];
    o += last;
    base = advance(idx, shape, strides, base, nd - 2);
  }
  return new ConcreteArray(out, outShape, x.dtype);
}

/** Merges neighbouring axes that step through memory as one (a broadcast scalar becomes one fill). */
function mergeAxes(shape: Shape, strides: readonly number[]): [number[], number[]] {
  const s: number[] = [],
    st: number[] = [];
  shape.forEach((d, k) => {
    const j = s.length - 1;
    if (d === 1) return; // any stride
    if (j >= 0 && st[j] === strides[k] * d) {
      s[j] *= d;
      st[j] = strides[k];
    } else {
      s.push(d);
      st.push(strides[k]);
    }
  });
  return s.length || !shape.length ? [s, st] : [[1], [0]];
}

export { stridesOf };

/** `[0, 1, ..., n-1]`. */
export const range = (n: number): number[] => globalThis.Array.from({ length: n }, (_, i) => i);

/** Checks arity and returns the avals, naming the primitive. */
export function expectArity(name: string, avals: ShapedArray[], n: number): void {
  if (avals.length !== n) throw new ShapeError(`${name}: expected ${n} operands, got ${avals.length}`);
}

export function expectSameDType(name: string, avals: readonly ShapedArray[]): DType {
  const d = avals[0].dtype;
  for (const a of avals) {
    if (a.dtype !== d)
      throw new DTypeError(`${name}: operands must have equal dtypes, got ${avals.map((x) => x.dtype).join(' and ')}`);
  }
  return d;
}

export const fmt = fmtShape;

/**
 * A primitive linear in all its operands (views, sums, window gathers and scatters), as JAX's
 * `deflinear`: its jvp applies it to the tangents, so only its transpose is written by hand.
 * `tangentParams` adjusts params that are not linear (a pad value is 0 for tangents).
 */
export function defineLinear<P extends Params>(
  p: Omit<Primitive<P>, 'jvp'> & { tangentParams?: (params: P) => P },
): Primitive<P> {
  const { tangentParams = (q: P) => q, ...rest } = p;
  const prim: Primitive<P> = definePrimitive<P>({
    ...rest,
    props: { ...rest.props, linear: true },
    jvp: (xs, ts, params) => [bind(prim, xs, params), bind(prim, ts, tangentParams(params))],
  });
  return prim;
}
