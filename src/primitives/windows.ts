/**
 * Sliding windows over the trailing spatial axes: `unfold` extracts every window (im2col),
 * `fold` sums windows back (its transpose). Convolution, transposed convolution,
 * locally-connected layers and pooling are composites of these with dot_general and reductions.
 * Input `[...lead, ...spatial]`, patches `[...lead, ...window, ...outSpatial]`.
 * @module
 */
import { type Array, ConcreteArray } from '../core/array.js';
import { allocate, coerce } from '../core/dtype.js';
import { ValueError } from '../core/errors.js';
import { type Primitive, UndefinedPrimal, definePrimitive } from '../core/primitive.js';
import { type Shape, sizeOf, stridesOf } from '../core/shape.js';
import { bind1 } from '../core/trace.js';
import { fmt, moveBatchAxis } from './util.js';

export interface WindowParams {
  window: readonly number[];
  strides: readonly number[];
  /** [before, after] per spatial axis. */
  padding: readonly (readonly [number, number])[];
  dilation: readonly number[];
}
export type UnfoldParams = WindowParams & { padValue: number };
export type FoldParams = WindowParams & { spatial: readonly number[] };

/** Output spatial size of a window op (the conv formula). */
export function windowOutShape(spatial: Shape, p: WindowParams): number[] {
  return spatial.map((s, i) => Math.floor((s + p.padding[i][0] + p.padding[i][1] - p.dilation[i] * (p.window[i] - 1) - 1) / p.strides[i]) + 1);
}

function check(name: string, shape: Shape, p: WindowParams): number[] {
  const r = p.window.length;
  const spatial = shape.slice(shape.length - r);
  const ok = r <= shape.length && [p.strides, p.padding, p.dilation].every((a) => a.length === r) &&
    p.window.every((k, i) => k >= 1 && p.strides[i] >= 1 && p.dilation[i] >= 1);
  const out = ok ? windowOutShape(spatial, p) : [];
  if (!ok || out.some((d) => d < 0)) {
    throw new ValueError(`${name}: window [${p.window}] strides [${p.strides}] padding ${JSON.stringify(p.padding)} dilation [${p.dilation}] do not fit input ${fmt(shape)}`);
  }
  return out;
}

/**
 * Calls `row(patchStart, srcStart, srcStep, valid)` for every run of patch elements along the
 * last output axis: elements `patchStart + j` read input `srcStart + j*srcStep`, or padding
 * where `valid(j)` is false. Rows keep the kernels' inner loops tight.
 */
function forEachRow(leadSize: number, spatial: Shape, p: WindowParams, row: (patch: number, src: number, step: number, lo: number, hi: number) => void) {
  const r = spatial.length;
  const out = windowOutShape(spatial, p);
  const sstr = stridesOf(spatial);
  const inner = sizeOf(spatial);
  const nw = sizeOf(p.window), no = sizeOf(out);
  const last = out[r - 1] ?? 1;
  const rowsPer = last === 0 ? 0 : no / last;
  const w = new globalThis.Array<number>(r).fill(0);
  const o = new globalThis.Array<number>(r).fill(0);
  for (let l = 0; l < leadSize; l++) {
    for (let wi = 0; wi < nw; wi++) {
      let rem = wi;
      for (let d = r - 1; d >= 0; d--) {
        w[d] = rem % p.window[d];
        rem = Math.floor(rem / p.window[d]);
      }
      for (let oi = 0; oi < rowsPer; oi++) {
        let orem = oi;
        for (let d = r - 2; d >= 0; d--) {
          o[d] = orem % out[d];
          orem = Math.floor(orem / out[d]);
        }
        // Leading spatial dims: one position each; invalid means the whole row is padding.
        let src = l * inner, valid = true;
        for (let d = 0; d < r - 1; d++) {
          const pos = o[d] * p.strides[d] - p.padding[d][0] + w[d] * p.dilation[d];
          if (pos < 0 || pos >= spatial[d]) valid = false;
          src += pos * sstr[d];
        }
        const d = r - 1;
        const first = -p.padding[d][0] + w[d] * p.dilation[d]; // input position of output column 0
        const step = p.strides[d];
        // Columns j with 0 <= first + j*step < spatial[d]:
        const lo = valid ? Math.max(0, Math.ceil(-first / step)) : last;
        const hi = valid ? Math.min(last, Math.floor((spatial[d] - 1 - first) / step) + 1) : last;
        row(((l * nw + wi) * rowsPer + oi) * last, src + first, step, lo, Math.max(lo, hi));
      }
    }
  }
}

const windowOnly = (p: WindowParams): WindowParams => ({ window: p.window, strides: p.strides, padding: p.padding, dilation: p.dilation });

export const unfoldP: Primitive<UnfoldParams> = definePrimitive({
  name: 'unfold',
  props: { linear: true, view: true },
  abstractEval([x], p) {
    const out = check('unfold', x.shape, p);
    return [{ shape: [...x.shape.slice(0, x.shape.length - p.window.length), ...p.window, ...out], dtype: x.dtype }];
  },
  impl([x], p) {
    const r = p.window.length;
    const lead = x.shape.slice(0, x.shape.length - r);
    const shape = [...lead, ...p.window, ...windowOutShape(x.shape.slice(lead.length), p)];
    const out = allocate(x.dtype, sizeOf(shape));
    const src = x.buffer;
    const fill = coerce(x.dtype, p.padValue);
    const last = shape[shape.length - 1];
    forEachRow(sizeOf(lead), x.shape.slice(lead.length), p, (o, s, step, lo, hi) => {
      for (let j = 0; j < lo; j++) out[o + j] = fill;
      for (let j = lo; j < hi; j++) out[o + j] = src[s + j * step];
      for (let j = hi; j < last; j++) out[o + j] = fill;
    });
    return [new ConcreteArray(out, shape, x.dtype)];
  },
  jvp: ([x], [t], p) => [[unfold(x, p)], [unfold(t, { ...p, padValue: 0 })]],
  batch: ([x], [d], p, size) => [[unfold(moveBatchAxis(x, d, 0, size), p)], [0]],
  transpose: ([ct], [x], p) => [fold(ct, { ...windowOnly(p), spatial: (x as UndefinedPrimal).aval.shape.slice(-p.window.length) })],
});

export const foldP: Primitive<FoldParams> = definePrimitive({
  name: 'fold',
  props: { linear: true, kernel: true },
  abstractEval([x], p) {
    const r = p.window.length;
    const lead = x.shape.slice(0, x.shape.length - 2 * r);
    const expected = [...lead, ...p.window, ...check('fold', [...lead, ...p.spatial], p)];
    if (expected.join() !== x.shape.join()) throw new ValueError(`fold: patches ${fmt(x.shape)} do not match ${fmt(expected)} for spatial [${p.spatial}]`);
    return [{ shape: [...lead, ...p.spatial], dtype: x.dtype }];
  },
  impl([x], p) {
    const lead = x.shape.slice(0, x.shape.length - 2 * p.window.length);
    const shape = [...lead, ...p.spatial];
    const out = allocate(x.dtype, sizeOf(shape));
    const src = x.buffer;
    forEachRow(sizeOf(lead), p.spatial, p, (o, s, step, lo, hi) => {
      for (let j = lo; j < hi; j++) out[s + j * step] += src[o + j];
    });
    return [new ConcreteArray(out, shape, x.dtype)];
  },
  jvp: ([x], [t], p) => [[fold(x, p)], [fold(t, p)]],
  batch: ([x], [d], p, size) => [[fold(moveBatchAxis(x, d, 0, size), p)], [0]],
  transpose: ([ct], _, p) => [unfold(ct, { ...windowOnly(p), padValue: 0 })],
});

/** lax.unfold: every window of the trailing spatial axes, `[...lead, ...window, ...outSpatial]`. @category lax */
export const unfold = (x: Array, p: UnfoldParams) => bind1(unfoldP, [x], { ...windowOnly(p), padValue: p.padValue });
/** lax.fold: sums windows back into `[...lead, ...spatial]` (the transpose of unfold). @category lax */
export const fold = (x: Array, p: FoldParams) => bind1(foldP, [x], { ...windowOnly(p), spatial: [...p.spatial] });
