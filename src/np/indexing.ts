/**
 * Indexing: basic slicing (`x.slice(...)`), indexed reads and functional updates
 * (`x.at(...).get()`, `.set(v)`, `.add(v)`, `.multiply(v)`) with numpy's basic and advanced
 * indexing, `take` and `takeAlongAxis`. Static indices compile to slice/pad/rev; index arrays and
 * masks to gather and scatter_add over flat positions.
 * @module
 */
import { Array, ConcreteArray, type ArrayLike, type Index, type AtIndex } from '../core/array.js';
import { DTypeError, ValueError, fmtShape } from '../core/errors.js';
import { isFloat, isInteger } from '../core/dtype.js';
import { checkOptions, codecs } from '../core/options.js';
import { broadcastShapes, normAxis, sizeOf } from '../core/shape.js';
import { bind1, stagedWith } from '../core/trace.js';
import * as P from '../primitives/index.js';
import { asArray, broadcastTo } from './convert.js';

interface AxisRange {
  start: number;
  count: number;
  step: number;
  /** An integer index: the axis is dropped from the result. */
  drop: boolean;
}
type Slice = readonly [number | null, number | null, number?];

/** A Python slice written as a string: 'start:stop:step', each part optional (':', '1:', '::-1'). */
function parseSlice(op: string, text: string): Slice {
  const parts = text.split(':');
  const num = (p: string | undefined) => {
    if (p === undefined || p.trim() === '') return null;
    const v = Number(p);
    if (!Number.isInteger(v)) throw new ValueError(`${op}: '${text.slice(0, 30)}' is not a slice (start:stop:step)`);
    return v;
  };
  if (parts.length < 2 || parts.length > 3)
    throw new ValueError(`${op}: '${text.slice(0, 30)}' is not a slice (start:stop:step, ':' or '...')`);
  return [num(parts[0]), num(parts[1]), num(parts[2]) ?? 1];
}

/** Replaces '...' by as many whole axes as the other entries leave (`width` says how many each takes). */
function expandEllipsis<T>(op: string, index: readonly T[], ndim: number, width: (e: T) => number): (T | null)[] {
  const at = index.findIndex((e) => e === '...');
  if (at < 0) return [...index];
  if (index.indexOf('...' as T, at + 1) >= 0) throw new ValueError(`${op}: an index can have only one '...'`);
  const rest = index.filter((_, i) => i !== at);
  const fill = Math.max(0, ndim - rest.reduce((n, e) => n + width(e), 0));
  return [...rest.slice(0, at), ...new globalThis.Array<null>(fill).fill(null), ...rest.slice(at)];
}

/** Resolves python-style index entries against a shape (missing trailing entries take everything). */
function resolve(op: string, shape: readonly number[], given: readonly Index[]): AxisRange[] {
  const index = expandEllipsis(op, given, shape.length, () => 1);
  if (index.length > shape.length)
    throw new ValueError(`${op}: too many indices (${index.length}) for an array of shape ${fmtShape(shape)}`);
  return shape.map((n, axis) => rangeOf(op, index[axis] ?? null, n, axis));
}

function rangeOf(op: string, entry: Index, n: number, axis: number): AxisRange {
  if (entry === null) return { start: 0, count: n, step: 1, drop: false };
  if (typeof entry === 'number') {
    if (!Number.isInteger(entry) || entry < -n || entry >= n)
      throw new ValueError(`${op}: index ${entry} is out of bounds for axis ${axis} with size ${n}`);
    return { start: entry < 0 ? entry + n : entry, count: 1, step: 1, drop: true };
  }
  const ix = typeof entry === 'string' ? parseSlice(op, entry) : entry;
  if (
    !globalThis.Array.isArray(ix) ||
    ix.length < 2 ||
    ix.length > 3 ||
    ix.some((v) => v !== null && typeof v !== 'number')
  )
    throw new ValueError(`${op}: index entry ${axis} must be an integer, null, a slice string or [start, stop, step]`);
  const step = ix[2] ?? 1;
  if (!Number.isInteger(step) || step === 0)
    throw new ValueError(`${op}: slice step must be a nonzero integer, got ${step}`);
  for (const v of ix.slice(0, 2))
    if (v !== null && !Number.isInteger(v)) throw new ValueError(`${op}: slice bound ${v} is not an integer`);
  const clampIdx = (v: number | null, dflt: number, lo: number, hi: number) =>
    v === null ? dflt : Math.min(Math.max(v < 0 ? v + n : v, lo), hi);
  const start = step > 0 ? clampIdx(ix[0], 0, 0, n) : clampIdx(ix[0], n - 1, -1, n - 1);
  const stop = step > 0 ? clampIdx(ix[1], n, 0, n) : clampIdx(ix[1], -1, -1, n - 1);
  const count = Math.max(0, Math.ceil((stop - start) / step));
  return { start, count, step, drop: false };
}

/** The selected box as positive-stride [start, step, count] (negative steps are flipped). */
const box = (r: AxisRange) =>
  r.step > 0 ? { lo: r.start, step: r.step } : { lo: r.start + (r.count - 1) * r.step, step: -r.step };

/**
 * Basic indexing: integers pick (and drop an axis), `null` keeps an axis, `[start, stop, step]`
 * slices with python semantics (negative values count from the end).
 * @example np.slice(x, 0, [1, null]) // x[0, 1:]
 * @category Indexing
 */
export function slice(x: ArrayLike, ...index: Index[]): Array {
  const a = asArray(x);
  const ranges = resolve('slice', a.shape, index);
  const start = ranges.map((r) => (r.count ? box(r).lo : 0));
  const strides = ranges.map((r) => box(r).step);
  const limit = ranges.map((r, i) => (r.count ? start[i] + (r.count - 1) * strides[i] + 1 : 0));
  let y = bind1(P.sliceP, [a], { start, limit, strides });
  const flipped = ranges.flatMap((r, i) => (r.step < 0 ? [i] : []));
  if (flipped.length) y = bind1(P.revP, [y], { axes: flipped });
  return P.reshape(
    y,
    ranges.filter((r) => !r.drop).map((r) => r.count),
  );
}

/** Places `v` (already of the box's shape) into a zero array of `shape`, plus a mask of the box. */
function embed(shape: readonly number[], ranges: AxisRange[], v: Array, fill: number): Array {
  const flipped = ranges.flatMap((r, i) => (r.step < 0 ? [i] : []));
  const vv = flipped.length ? bind1(P.revP, [v], { axes: flipped }) : v;
  const lo = ranges.map((r) => (r.count ? box(r).lo : 0));
  const interior = ranges.map((r) => box(r).step - 1);
  const hi = ranges.map((r, i) => shape[i] - lo[i] - (r.count ? (r.count - 1) * box(r).step + 1 : 0));
  return P.pad(vv, lo, hi, interior, fill);
}

/** What `x.at(...)` does: a read or a functional update. */
export type AtMode = 'get' | 'set' | 'add' | 'multiply';

/**
 * `x.at(...index).get()` and the functional updates `.set(v)`, `.add(v)`, `.multiply(v)`: a new array
 * equal to `x` except in the indexed region, differentiable in `x` and `v`. Entries follow numpy and
 * JAX: integers, `null` (a whole axis), slice strings (`'1:3'`, `'::-1'`), `'...'`, integer index arrays
 * (arrays, JS lists, typed arrays; broadcast together) and boolean masks.
 * @category Indexing
 */
export function atIndex(x: ArrayLike, index: readonly AtIndex[], mode: AtMode, v?: ArrayLike): Array {
  const a = asArray(x);
  // Bool arrays update as NumPy's ufuncs do: add is or, multiply is and (counted in int32).
  if (a.dtype === 'bool' && (mode === 'add' || mode === 'multiply')) {
    const counted = atIndex(P.cast(a, 'int32'), index, mode, P.cast(asArray(v!), 'int32'));
    return P.ne(counted, P.zerosLike(counted));
  }
  const entries = expandEllipsis('at', index.map(toEntry), a.ndim, (e) => (isMask(e) ? e.ndim : 1));
  if (!entries.some((e) => e instanceof Array)) return atBasic(a, entries as Index[], mode, v);
  const masks = entries.filter(isMask);
  if (mode !== 'get' && masks.length === 1 && entries.every((e) => e === null || isMask(e))) {
    const update = whereForm(a, entries, masks[0], mode, asArray(v!, a.dtype));
    if (update) return update;
  }
  return atAdvanced(a, entries, mode, v);
}

const and = (x: Array, y: Array) => bind1(P.andP, [x, y]);
const ge = (x: Array, y: Array) => bind1(P.geP, [x, y]);

type Entry = number | null | string | Slice | Array;
const isMask = (e: unknown): e is Array => e instanceof Array && e.dtype === 'bool';

const toEntry = (e: AtIndex): Entry =>
  e === null || typeof e === 'number' || typeof e === 'string' ? e : indexArray('at', e as ArrayLike, true);

/**
 * Indices as an int32 array: JS lists of integers and integer typed arrays are indices; float arrays and
 * fractional numbers are errors (never truncated). Boolean masks pass through where `masks` allows them.
 */
function indexArray(op: string, given: ArrayLike, masks = false): Array {
  const a = asArray(given, undefined, op);
  if ((a.dtype === 'bool' && masks) || a.dtype === 'int32') return a;
  if (isInteger(a.dtype) && (a.dtype !== 'uint32' || given instanceof Array)) return P.cast(a, 'int32');
  // JS lists and typed arrays are concrete: converted here, so they stay known under jit.
  const c = given instanceof Array ? null : a.toConcrete();
  if (!c || (isFloat(a.dtype) && ArrayBuffer.isView(given)))
    throw new DTypeError(`${op}: indices must be integers${masks ? ' or booleans' : ''}, got ${a.dtype}`);
  const bad = c.buffer.find((v) => !Number.isInteger(v));
  if (bad !== undefined) throw new ValueError(`${op}: index ${bad} is not an integer`);
  return new ConcreteArray(Int32Array.from(c.buffer), c.shape, 'int32');
}

function atBasic(a: Array, index: readonly Index[], mode: AtMode, v?: ArrayLike): Array {
  if (mode === 'get') return slice(a, ...index);
  const ranges = resolve('at', a.shape, index);
  const boxShape = ranges.map((r) => r.count);
  const sliceShape = ranges.filter((r) => !r.drop).map((r) => r.count);
  const val = P.reshape(broadcastTo(asArray(v!, a.dtype), sliceShape, 'at'), boxShape);
  if (mode === 'add') return P.add(a, embed(a.shape, ranges, val, 0));
  if (mode === 'multiply') return P.mul(a, embed(a.shape, ranges, val, 1));
  const mask = P.cast(embed(a.shape, ranges, P.fullLike({ shape: boxShape, dtype: 'int32' }, 1), 0), 'bool');
  return P.select(mask, embed(a.shape, ranges, val, 0), a);
}

/**
 * An update through one boolean mask whose value does not vary along the selected elements (a scalar,
 * or a value for the axes after the mask's): `where(mask, v, x)`, with a static shape, so it works
 * under `jit` with a traced mask as JAX's `where` form does. Null when the value needs the general path.
 */
function whereForm(a: Array, entries: readonly Entry[], mask: Array, mode: AtMode, v: Array): Array | null {
  const first = entries.indexOf(mask);
  const post = a.shape.slice(first + mask.ndim);
  if (v.ndim > post.length) return null;
  checkMaskShape(a, mask, first);
  const dims = mask.shape.map((_, i) => first + i);
  const m = P.broadcastInDim(mask, a.shape, dims);
  const val = broadcastTo(v, a.shape, 'at');
  if (mode === 'set') return P.select(m, val, a);
  if (mode === 'add') return P.add(a, P.select(m, val, P.zerosLike(a)));
  return P.mul(a, P.select(m, val, P.fullLike(a, 1)));
}

function checkMaskShape(a: Array, mask: Array, first: number) {
  const covered = a.shape.slice(first, first + mask.ndim);
  if (covered.length !== mask.ndim || covered.some((d, i) => d !== mask.shape[i]))
    throw new ValueError(
      `at: boolean mask of shape ${fmtShape(mask.shape)} does not match axes ${first}.. of shape ${fmtShape(a.shape)}`,
    );
}

/** One index array per axis it indexes (a concrete mask becomes the coordinates of its true elements). */
function expandMasks(a: Array, entries: readonly Entry[]): (number | null | Slice | Array)[] {
  let axis = 0;
  return entries.flatMap((e): (number | null | Slice | Array)[] => {
    if (!isMask(e)) {
      axis++;
      return [typeof e === 'string' ? parseSlice('at', e) : e];
    }
    checkMaskShape(a, e, axis);
    axis += e.ndim;
    const c = e.toConcrete();
    if (!c)
      throw new ValueError(
        `at: a boolean mask ${fmtShape(e.shape)} under jit selects a number of elements known only when it runs; ` +
          `use np.where(mask, value, x), or a scalar update (x.at(mask).set(v))`,
      );
    return nonzeroOf(c);
  });
}

/** The coordinates of the nonzero elements of `c`, one int32 array per axis, in row-major order. */
function nonzeroOf(c: ConcreteArray): Array[] {
  const strides = c.shape.map((_, i) => sizeOf(c.shape.slice(i + 1)));
  const hits: number[] = [];
  c.buffer.forEach((v, i) => v !== 0 && hits.push(i));
  return c.shape.map((n, d) => {
    const out = new Int32Array(hits.length);
    hits.forEach((h, j) => (out[j] = Math.floor(h / strides[d]) % n));
    return new ConcreteArray(out, [hits.length], 'int32');
  });
}

/** An index array as int32 in [0, n): concrete values are checked (an error names the first bad one). */
function checkIndices(op: string, idx: Array, n: number, axis: number): { idx: Array; inBounds?: Array } {
  const c = idx.toConcrete();
  if (c) {
    const wrapped = new Int32Array(c.size);
    c.buffer.forEach((v, i) => {
      if (v < -n || v >= n) throw new ValueError(`${op}: index ${v} is out of bounds for axis ${axis} with size ${n}`);
      wrapped[i] = v < 0 ? v + n : v;
    });
    return { idx: new ConcreteArray(wrapped, c.shape, 'int32') };
  }
  // Traced: reads clamp (gather does), updates drop out-of-range elements, as JAX does.
  const i = wrapIndices(idx, n);
  return { idx: i, inBounds: and(ge(i, P.zerosLike(i)), P.lt(i, P.fullLike(i, n))) };
}

/** Advanced indexing: the flat position in `a` of every element of the result, then gather or scatter. */
function atAdvanced(a: Array, given: readonly Entry[], mode: AtMode, v?: ArrayLike): Array {
  const entries = expandMasks(a, given);
  if (entries.length > a.ndim)
    throw new ValueError(`at: too many indices (${entries.length}) for an array of shape ${fmtShape(a.shape)}`);
  if (a.size >= 2 ** 31)
    throw new ValueError(`at: array of shape ${fmtShape(a.shape)} is too large to index by arrays`);
  // Integers are index arrays too once any array is present (numpy's rule).
  const axes = a.shape.map((n, axis) => {
    const e = entries[axis] ?? null;
    if (e instanceof Array || typeof e === 'number') {
      const idx = e instanceof Array ? e : new ConcreteArray(new Int32Array([e]), [], 'int32');
      if (typeof e === 'number' && !Number.isInteger(e)) throw new ValueError(`at: index ${e} is not an integer`);
      return { kind: 'array' as const, ...checkIndices('at', idx, n, axis) };
    }
    return { kind: 'range' as const, range: rangeOf('at', e, n, axis) };
  });
  const arrayAxes = axes.flatMap((x, i) => (x.kind === 'array' ? [i] : []));
  const b = broadcastShapes('at', ...axes.map((x) => (x.kind === 'array' ? x.idx.shape : [])));
  // Adjacent index arrays keep their place in the result; separated ones go first (numpy's rule).
  const adjacent = arrayAxes[arrayAxes.length - 1] - arrayAxes[0] === arrayAxes.length - 1;
  const bAt = adjacent ? axes.slice(0, arrayAxes[0]).filter((x) => x.kind === 'range').length : 0;
  const counts = axes.flatMap((x) => (x.kind === 'range' ? [x.range.count] : []));
  const shape = [...counts.slice(0, bAt), ...b, ...counts.slice(bAt)];
  const positions = (): { pos: Array; posF: Array; valid?: Array } => {
    const bDims = b.map((_, i) => bAt + i);
    const place = (x: Array) => P.broadcastInDim(broadcastTo(x, b, 'at'), shape, bDims);
    let p = P.fullLike({ shape, dtype: 'int32' }, 0);
    let ok: Array | undefined;
    let stride = 1;
    let rangeAxis = counts.length;
    for (let axis = a.ndim - 1; axis >= 0; axis--) {
      const x = axes[axis];
      let coord: Array;
      if (x.kind === 'range') {
        rangeAxis--;
        const dim = rangeAxis < bAt ? rangeAxis : rangeAxis + b.length;
        const steps = P.mul(P.iota(shape, 'int32', dim), P.fullLike({ shape, dtype: 'int32' }, x.range.step));
        coord = P.add(steps, P.fullLike(steps, x.range.start));
      } else {
        coord = place(x.idx);
        if (x.inBounds) ok = ok ? and(ok, place(x.inBounds)) : place(x.inBounds);
      }
      p = P.add(p, P.mul(coord, P.fullLike(coord, stride)));
      stride *= a.shape[axis];
    }
    const flatCount = [sizeOf(shape)];
    return { pos: p, posF: P.reshape(p, flatCount), valid: ok && P.reshape(ok, flatCount) };
  };
  // Known indices give known positions, computed now even under jit (bounds and repeats are then known).
  const indices = axes.flatMap((x) => (x.kind === 'array' ? [x] : []));
  const known = indices.every((x) => !x.inBounds);
  const { pos, posF, valid } = known ? stagedWith(indices[0].idx, positions) : positions();
  const flat = P.reshape(a, [a.size]);
  if (mode === 'get') return P.gather(flat, pos, 0);
  const m = sizeOf(shape);
  const vals = P.reshape(broadcastTo(asArray(v!, a.dtype), shape, 'at'), [m]);
  // Which writes happen: in range (traced indices) and, for set and multiply, chosen by `extra`.
  const keep = (extra?: Array) => (valid && extra ? and(valid, extra) : (valid ?? extra));
  /** The sum of the kept writes to each position, and whether any went there. */
  const scatter = (mask: Array | undefined, values: Array) => {
    // scatter_add works in numbers: bool values travel as int32.
    const dt = values.dtype === 'bool' ? 'int32' : values.dtype;
    const x = P.cast(values, dt);
    const u = mask ? P.select(mask, x, P.zerosLike(x)) : x;
    const ones = mask ? P.cast(mask, 'int32') : P.fullLike(posF, 1);
    const hits = P.scatterAdd(P.fullLike({ shape: [a.size], dtype: 'int32' }, 0), posF, ones, 0);
    const hit = P.gt(hits, P.zerosLike(hits));
    return { hit, sum: P.scatterAdd(P.fullLike({ shape: [a.size], dtype: dt }, 0), posF, u, 0) };
  };
  let out: Array;
  if (mode === 'add') {
    out = P.add(flat, scatter(keep(), vals).sum);
  } else if (mode === 'set') {
    // The last write to a position wins, as in numpy.
    const { hit, sum } = scatter(keep(lastWrites(posF)), vals);
    out = P.select(hit, P.cast(sum, a.dtype), flat);
  } else {
    // A product scatter in rounds: within one round every position is written at most once.
    const c = posF.toConcrete();
    if (!c)
      throw new ValueError('at: multiply through traced index arrays is not supported; use set(x.at(i).get() * v)');
    out = flat;
    const round = occurrences(c);
    const rounds = round.reduce((most, k) => Math.max(most, k + 1), 0);
    for (let r = 0; r < rounds; r++) {
      const inRound = new ConcreteArray(
        Uint8Array.from(round, (k) => (k === r ? 1 : 0)),
        [m],
        'bool',
      );
      const { hit, sum } = scatter(keep(inRound), vals);
      out = P.select(hit, P.mul(out, P.cast(sum, a.dtype)), out);
    }
  }
  return P.reshape(out, a.shape);
}

/** For each write, how many earlier writes went to the same position. */
function occurrences(pos: ConcreteArray): number[] {
  const seen = new Map<number, number>();
  return globalThis.Array.from(pos.buffer, (p) => {
    const k = seen.get(p) ?? 0;
    seen.set(p, k + 1);
    return k;
  });
}

/** Marks the last write to each position (computed now when positions are known, else by a stable sort). */
function lastWrites(pos: Array): Array {
  const c = pos.toConcrete();
  const m = pos.shape[0];
  if (c) {
    const later = new Set<number>();
    const last = new Uint8Array(m);
    for (let i = m - 1; i >= 0; i--) {
      if (later.has(c.buffer[i])) continue;
      last[i] = 1;
      later.add(c.buffer[i]);
    }
    return new ConcreteArray(last, [m], 'bool');
  }
  if (m === 0) return P.fullLike({ shape: [0], dtype: 'bool' }, 0);
  const order = bind1(P.argsortP, [pos], { descending: false });
  const sorted = P.gather(pos, order, 0);
  const tail = bind1(P.sliceP, [sorted], { start: [1], limit: [m], strides: [1] });
  const next = bind1(P.concatenateP, [tail, P.fullLike({ shape: [1], dtype: 'int32' }, -1)], { axis: 0 });
  const lastSorted = P.cast(P.ne(sorted, next), 'int32');
  return P.gt(P.scatterAdd(P.zerosLike(lastSorted), order, lastSorted, 0), P.zerosLike(lastSorted));
}

const wrapIndices = (idx: Array, n: number) => {
  const i = P.cast(idx, 'int32');
  return P.select(P.lt(i, P.zerosLike(i)), P.add(i, P.fullLike(i, n)), i);
};

/**
 * Takes elements along `axis` at integer `indices` (flattened when `axis` is omitted).
 * Negative indices count from the end; out-of-range ones are clamped.
 * @example np.take(x, np.array([2, 0], {dtype: 'int32'}), {axis: 1})
 * @category Indexing
 */
export function take(x: ArrayLike, indices: ArrayLike, opts?: { axis?: number }): Array {
  const o = checkOptions('take', { axis: codecs.number }, opts);
  let a = asArray(x);
  if (o.axis === undefined) a = P.reshape(a, [a.size]);
  const axis = normAxis('take', o.axis ?? 0, a.ndim);
  return P.gather(a, wrapIndices(indexArray('take', indices), a.shape[axis]), axis);
}

/**
 * Picks along `axis` with an index array of the same rank (broadcast in the other axes),
 * like `np.take_along_axis`.
 * @category Indexing
 */
export function takeAlongAxis(x: ArrayLike, indices: ArrayLike, axis: number): Array {
  const a = asArray(x);
  const ax = normAxis('takeAlongAxis', axis, a.ndim);
  let idx = wrapIndices(indexArray('takeAlongAxis', indices), a.shape[ax]);
  if (idx.ndim !== a.ndim)
    throw new ValueError(`takeAlongAxis: indices of rank ${idx.ndim} must match the array's rank ${a.ndim}`);
  const shape = a.shape.map((d, i) => (i === ax ? idx.shape[i] : Math.max(d, idx.shape[i])));
  idx = broadcastTo(idx, shape, 'takeAlongAxis');
  const src = broadcastTo(
    a,
    a.shape.map((d, i) => (i === ax ? d : shape[i])),
    'takeAlongAxis',
  );
  // Flat position in src = sum over axes of coordinate * stride, the coordinate along `axis` from idx.
  let flat = P.zerosLike(idx);
  let stride = 1;
  for (let i = a.ndim - 1; i >= 0; i--) {
    const coord = i === ax ? idx : P.iota(shape, 'int32', i);
    flat = P.add(flat, P.mul(coord, P.fullLike(coord, stride)));
    stride *= src.shape[i];
  }
  return P.gather(P.reshape(src, [src.size]), flat, 0);
}
