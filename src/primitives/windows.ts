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

/** Calls f(patchIndex, inputIndex | -1) for every patch element. */
function forEachTap(leadSize: number, spatial: Shape, p: WindowParams, f: (patch: number, src: number) => void) {
  const r = spatial.length;
  const out = windowOutShape(spatial, p);
  const inner = sizeOf(spatial);
  const pshape = [...p.window, ...out];
  const pstr = stridesOf(pshape);
  const sstr = stridesOf(spatial);
  const per = sizeOf(pshape);
  for (let q = 0; q < per; q++) {
    let src = 0;
    for (let d = 0; d < r && src >= 0; d++) {
      const w = Math.floor(q / pstr[d]) % pshape[d];
      const o = Math.floor(q / pstr[r + d]) % pshape[r + d];
      const pos = o * p.strides[d] - p.padding[d][0] + w * p.dilation[d];
      src = pos < 0 || pos >= spatial[d] ? -1 : src + pos * sstr[d];
    }
    for (let l = 0; l < leadSize; l++) f(l * per + q, src < 0 ? -1 : l * inner + src);
  }
}

const windowOnly = (p: WindowParams): WindowParams => ({ window: p.window, strides: p.strides, padding: p.padding, dilation: p.dilation });

export const unfoldP: Primitive<UnfoldParams> = definePrimitive({
  name: 'unfold',
  props: { linear: true },
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
    forEachTap(sizeOf(lead), x.shape.slice(lead.length), p, (o, s) => (out[o] = s < 0 ? fill : src[s]));
    return [new ConcreteArray(out, shape, x.dtype)];
  },
  jvp: ([x], [t], p) => [[unfold(x, p)], [unfold(t, { ...p, padValue: 0 })]],
  batch: ([x], [d], p, size) => [[unfold(moveBatchAxis(x, d, 0, size), p)], [0]],
  transpose: ([ct], [x], p) => [fold(ct, { ...windowOnly(p), spatial: (x as UndefinedPrimal).aval.shape.slice(-p.window.length) })],
});

export const foldP: Primitive<FoldParams> = definePrimitive({
  name: 'fold',
  props: { linear: true },
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
    forEachTap(sizeOf(lead), p.spatial, p, (o, s) => {
      if (s >= 0) out[s] += src[o];
    });
    return [new ConcreteArray(out, shape, x.dtype)];
  },
  jvp: ([x], [t], p) => [[fold(x, p)], [fold(t, p)]],
  batch: ([x], [d], p, size) => [[fold(moveBatchAxis(x, d, 0, size), p)], [0]],
  transpose: ([ct], _, p) => [unfold(ct, { ...windowOnly(p), padValue: 0 })],
});

export const unfold = (x: Array, p: UnfoldParams) => bind1(unfoldP, [x], { ...windowOnly(p), padValue: p.padValue });
export const fold = (x: Array, p: FoldParams) => bind1(foldP, [x], { ...windowOnly(p), spatial: [...p.spatial] });
