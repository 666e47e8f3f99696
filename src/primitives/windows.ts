/**
 * Sliding windows over the trailing spatial axes: `unfold` extracts every window (im2col),
 * `fold` sums windows back (its transpose). Convolution, transposed convolution,
 * locally-connected layers and pooling are composites of these with dot_general and reductions.
 * Input `[...lead, ...spatial]`, patches `[...lead, ...window, ...outSpatial]`.
 * @module
 */
import { type Array, ConcreteArray, type ShapedArray } from '../core/array.js';
import { type DType, allocate, coerce, computeDType, isFloat } from '../core/dtype.js';
import type { DotParams } from './dot.js';
import { ValueError } from '../core/errors.js';
import {
  type OnnxAttr,
  type OnnxEmitter,
  type OnnxProducer,
  type Primitive,
  UndefinedPrimal,
} from '../core/primitive.js';
import { type Shape, shapesEqual, sizeOf, stridesOf } from '../core/shape.js';
import { bind1 } from '../core/trace.js';
import { defineLinear, fmt } from './util.js';
import { onnxTranspose, reshapeP, transposeP, moveBatchAxis } from './views.js';

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
  return spatial.map(
    (s, i) =>
      Math.floor((s + p.padding[i][0] + p.padding[i][1] - p.dilation[i] * (p.window[i] - 1) - 1) / p.strides[i]) + 1,
  );
}

function check(name: string, shape: Shape, p: WindowParams): number[] {
  const r = p.window.length;
  const spatial = shape.slice(shape.length - r);
  const ok =
    r <= shape.length &&
    [p.strides, p.padding, p.dilation].every((a) => a.length === r) &&
    p.window.every((k, i) => k >= 1 && p.strides[i] >= 1 && p.dilation[i] >= 1);
  const out = ok ? windowOutShape(spatial, p) : [];
  if (!ok || out.some((d) => d < 0)) {
    throw new ValueError(
      `${name}: window [${p.window}] strides [${p.strides}] padding ${JSON.stringify(p.padding)} ` +
        `dilation [${p.dilation}] do not fit input ${fmt(shape)}`,
    );
  }
  return out;
}

/**
 * Calls `row(patchStart, srcStart, srcStep, valid)` for every run of patch elements along the
 * last output axis: elements `patchStart + j` read input `srcStart + j*srcStep`, or padding
 * where `valid(j)` is false. Rows keep the kernels' inner loops tight.
 */
function forEachRow(
  leadSize: number,
  spatial: Shape,
  p: WindowParams,
  row: (patch: number, src: number, step: number, lo: number, hi: number) => void,
) {
  const r = spatial.length;
  const out = windowOutShape(spatial, p);
  const sstr = stridesOf(spatial);
  const inner = sizeOf(spatial);
  const nw = sizeOf(p.window),
    no = sizeOf(out);
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
        let src = l * inner,
          valid = true;
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

const windowOnly = (p: WindowParams): WindowParams => ({
  window: p.window,
  strides: p.strides,
  padding: p.padding,
  dilation: p.dilation,
});

export const unfoldP: Primitive<UnfoldParams> = defineLinear({
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
  tangentParams: (p) => ({ ...p, padValue: 0 }),
  batch: ([x], [d], p, size) => [[unfold(moveBatchAxis(x, d, 0, size), p)], [0]],
  transpose: ([ct], [x], p) => [
    fold(ct, { ...windowOnly(p), spatial: (x as UndefinedPrimal).aval.shape.slice(-p.window.length) }),
  ],
  onnx: (e, [x], p, { ins: [xv], outs: [out] }) => [unfoldOnnx(e, x, xv, p, out.shape)],
});

export const foldP: Primitive<FoldParams> = defineLinear({
  name: 'fold',
  props: { linear: true, kernel: true },
  abstractEval([x], p) {
    const r = p.window.length;
    const lead = x.shape.slice(0, x.shape.length - 2 * r);
    const expected = [...lead, ...p.window, ...check('fold', [...lead, ...p.spatial], p)];
    if (expected.join() !== x.shape.join())
      throw new ValueError(`fold: patches ${fmt(x.shape)} do not match ${fmt(expected)} for spatial [${p.spatial}]`);
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
  batch: ([x], [d], p, size) => [[fold(moveBatchAxis(x, d, 0, size), p)], [0]],
  transpose: ([ct], _, p) => [unfold(ct, { ...windowOnly(p), padValue: 0 })],
  onnx: (e, [x], p, { ins: [xv], outs: [out] }) => [
    convInputGradOnnx(e, x, p, out.shape) ?? foldOnnx(e, x, xv, p, out.shape),
  ],
});

// ---------------------------------------------------------------- ONNX lowerings

/**
 * Square 2-d windows that tile the spatial axes exactly (2x2 pooling): one SpaceToDepth, faster than
 * strided Slices.
 */
const squareTiles = (p: WindowParams, spatial: readonly number[], out: readonly number[]) =>
  p.window.length === 2 &&
  p.window[0] === p.window[1] &&
  p.window.every((k, i) => p.strides[i] === k && p.dilation[i] === 1 && out[i] * k === spatial[i]) &&
  p.padding.every((q) => q[0] === 0 && q[1] === 0);

/** A one-element window at every position (a 1x1 convolution's): its patches are the input itself. */
const pointwise = (p: WindowParams) =>
  p.window.every((k, i) => k === 1 && p.strides[i] === 1 && p.padding[i][0] === 0 && p.padding[i][1] === 0);

const cornerOf = (k: number, window: readonly number[]) => {
  const w: number[] = [];
  for (let d = window.length - 1; d >= 0; d--) {
    w[d] = k % window[d];
    k = Math.floor(k / window[d]);
  }
  return w;
};

/**
 * Generic unfold: pad with the pad value, then one strided Slice per window offset (for equal 2-d
 * strides, a contiguous Slice of a SpaceToDepth phase), stacked.
 * Exact for any values (a one-hot Conv would turn -inf padding into NaN). Contractions over
 * windows only get here for the im2col columns of a GEMM (see convolutionOnnx). The window
 * offsets go to `tapAxis` (after the leading axes unless asked).
 */
function unfoldOnnx(
  e: OnnxEmitter,
  x: string,
  xv: ShapedArray,
  p: UnfoldParams,
  shape: readonly number[],
  tapAxis = xv.shape.length - p.window.length,
): string {
  const r = p.window.length,
    nl = xv.shape.length - r;
  const out = windowOutShape(xv.shape.slice(nl), p);
  const pads = [
    ...xv.shape.map((_, i) => (i < nl ? 0 : p.padding[i - nl][0])),
    ...xv.shape.map((_, i) => (i < nl ? 0 : p.padding[i - nl][1])),
  ];
  if (tapAxis === nl && squareTiles(p, xv.shape.slice(nl), out)) {
    // Each channel alone through SpaceToDepth: its output channels are exactly the window offsets.
    const planes = e.op('Reshape', [x, e.ints([sizeOf(xv.shape.slice(0, nl)), 1, ...xv.shape.slice(nl)])], {
      allowzero: 1,
    });
    return e.op('Reshape', [e.op('SpaceToDepth', [planes], { blocksize: p.window[0] }), e.ints(shape)], {
      allowzero: 1,
    });
  }
  const stride = p.strides[0];
  if (r === 2 && stride > 1 && p.strides[1] === stride && ['float32', 'float64'].includes(xv.dtype)) {
    // Strided Slices are several times slower in ONNX Runtime than contiguous ones: SpaceToDepth
    // first splits each padded plane into its stride x stride phases, and every window offset is a
    // contiguous Slice of one phase (ResNet-18's stem max pool, 9 offsets: 2.98 → 1.56 ms with the
    // SpaceToDepth, profiled).
    const spatial = xv.shape.slice(nl).map((d, i) => d + pads[nl + i] + pads[2 * nl + r + i]);
    const extra = spatial.map((d) => (stride - (d % stride)) % stride);
    const phasePads = pads.map((v, i) => (i >= nl + r + nl ? v + extra[i - nl - r - nl] : v));
    const padded = e.op('Pad', [x, e.ints(phasePads), e.constant(p.padValue, xv.dtype)]);
    const whole = spatial.map((d, i) => d + extra[i]);
    const lead = sizeOf(xv.shape.slice(0, nl));
    const planes = e.op('Reshape', [padded, e.ints([lead, 1, ...whole])], { allowzero: 1 });
    const phases = e.op('SpaceToDepth', [planes], { blocksize: stride }); // [lead, s * s, ...whole / s]
    const taps = globalThis.Array.from({ length: sizeOf(p.window) }, (_, k) => {
      const at = cornerOf(k, p.window).map((v, i) => v * p.dilation[i]);
      const phase = (at[0] % stride) * stride + (at[1] % stride);
      const from = at.map((v) => Math.floor(v / stride));
      const tap = e.op('Slice', [
        phases,
        e.ints([phase, ...from]),
        e.ints([phase + 1, ...from.map((f, i) => f + out[i])]),
        e.ints([1, 2, 3]),
      ]);
      const unstacked = e.op('Reshape', [tap, e.ints([...xv.shape.slice(0, nl), ...out])], { allowzero: 1 });
      return e.op('Unsqueeze', [unstacked, e.ints([tapAxis])]);
    });
    return e.op('Reshape', [e.op('Concat', taps, { axis: tapAxis }), e.ints(shape)], { allowzero: 1 });
  }
  const padded = pads.some((v) => v !== 0) ? e.op('Pad', [x, e.ints(pads), e.constant(p.padValue, xv.dtype)]) : x;
  if (pointwise(p)) return e.op('Reshape', [padded, e.ints(shape)], { allowzero: 1 });
  const axes = out.map((_, i) => nl + i);
  const taps = globalThis.Array.from({ length: sizeOf(p.window) }, (_, k) => {
    const w = cornerOf(k, p.window);
    const starts = w.map((v, i) => v * p.dilation[i]);
    const ends = starts.map((s, i) => s + (out[i] - 1) * p.strides[i] + 1);
    const tap = e.op('Slice', [padded, e.ints(starts), e.ints(ends), e.ints(axes), e.ints(p.strides)]);
    return e.op('Unsqueeze', [tap, e.ints([tapAxis])]);
  });
  const stacked = taps.length === 1 ? taps[0] : e.op('Concat', taps, { axis: tapAxis });
  return e.op('Reshape', [stacked, e.ints(shape)], { allowzero: 1 });
}

/**
 * Generic fold: ONNX's `Col2Im` for float32 images (the types and rank ONNX Runtime implements it
 * for; 1.6-7x faster than the alternative on ResNet-50's pooling and small-batch gradients), else a
 * ConvTranspose whose one-hot kernel sends window offset k back to its place.
 */
function foldOnnx(e: OnnxEmitter, x: string, xv: ShapedArray, p: FoldParams, shape: readonly number[]): string {
  const r = p.window.length,
    k = sizeOf(p.window);
  const lead = xv.shape.slice(0, xv.shape.length - 2 * r);
  const out = xv.shape.slice(xv.shape.length - r);
  if (pointwise(p)) return e.op('Reshape', [x, e.ints(shape)], { allowzero: 1 });
  if (r === 2 && xv.dtype === 'float32') {
    const columns = e.op('Reshape', [x, e.ints([sizeOf(lead), k, sizeOf(out)])], { allowzero: 1 });
    const y = e.op('Col2Im', [columns, e.ints(p.spatial), e.ints(p.window)], {
      strides: p.strides,
      dilations: p.dilation,
      pads: pairs(p),
    });
    return e.op('Reshape', [y, e.ints(shape)], { allowzero: 1 });
  }
  const oneHot = new Float32Array(k * k);
  for (let i = 0; i < k; i++) oneHot[i * k + i] = 1;
  const kernel = e.constant(oneHot, 'float32', [k, 1, ...p.window]);
  const patches = e.op('Reshape', [x, e.ints([sizeOf(lead), k, ...out])], { allowzero: 1 });
  const y = e.op('ConvTranspose', [patches, kernel], {
    strides: p.strides,
    dilations: p.dilation,
    pads: pairs(p),
    output_padding: outputPadding(p, out),
  });
  return e.op('Reshape', [y, e.ints(shape)], { allowzero: 1 });
}

/** lax.unfold: every window of the trailing spatial axes, `[...lead, ...window, ...outSpatial]`. @category lax */
export const unfold = (x: Array, p: UnfoldParams) => bind1(unfoldP, [x], { ...windowOnly(p), padValue: p.padValue });
/** lax.fold: sums windows back into `[...lead, ...spatial]` (the transpose of unfold). @category lax */
export const fold = (x: Array, p: FoldParams) => bind1(foldP, [x], { ...windowOnly(p), spatial: [...p.spatial] });

/** The unfold (and its input) behind a value that is a reshape of its patches, if it is one. */
function patchesBehind(e: OnnxEmitter, name: string) {
  const r = e.producer(name);
  if (r?.prim !== reshapeP) return undefined;
  const u = e.producer(r.inputs[0]);
  if (u?.prim !== unfoldP || u.inAvals[0].shape.length !== (u.params as UnfoldParams).window.length + 2)
    return undefined;
  return { x: u.inputs[0], xv: u.inAvals[0], p: u.params as UnfoldParams };
}

/**
 * Does a convolution with so few output positions (batch times output pixels) run faster as one
 * GEMM over im2col columns? ONNX Runtime's `Conv` and `ConvTranspose` run a GEMM per image, with as
 * many columns as the image has output pixels, streaming the whole filter once per image; below
 * the blocked kernels' threshold (see blockable) one GEMM over the batch is 2-5x faster (ResNet-18's
 * 2x2 layer4, batch 8: forward 4.0 → 1.3 ms, input gradient 7.0 → 1.2 ms, filter gradient with its
 * transpose 5.2 → 1.4 ms). Small filters (under 64k elements: DenseNet-121's 3x3 ones) stream
 * cheaply, and there the columns' extra nodes cost as much as they save.
 */
const viaGemm = (dtype: DType, positions: number, filter: number) =>
  computeDType(dtype) === 'float32' && positions < 256 && filter >= 65536;

/**
 * Does a transposed convolution (an input gradient) over many small images run faster as one
 * batched product and one Col2Im? ONNX Runtime's `ConvTranspose` runs a GEMM and a col2im per image:
 * LeNet-5's conv2 (64 images of 10x10) took 1.0 ms; its Adam step 6.1 → 5.5-5.7 ms this way.
 * ResNet-18 at batch 32 is unchanged, DenseNet-121 at batch 4 slower (few images to batch).
 */
const manySmallImages = (dtype: DType, images: number, positions: number) =>
  computeDType(dtype) === 'float32' && images >= 16 && positions <= 256;

/** The im2col columns of `x[N, C, ...spatial]`: `[C * window, N * out]`, window offsets inner to channels. */
function columns(e: OnnxEmitter, x: string, xv: ShapedArray, p: UnfoldParams): string {
  const [n, c, ...spatial] = xv.shape;
  const out = windowOutShape(spatial, p);
  const channelsFirst = onnxTranspose(e, x, xv.shape, [1, 0, ...seq(2, spatial.length)]);
  const aval = { shape: [c, n, ...spatial], dtype: xv.dtype };
  return unfoldOnnx(e, channelsFirst, aval, p, [c * sizeOf(p.window), n * sizeOf(out)], 1);
}

const pairs = (p: WindowParams) => [...p.padding.map((q) => q[0]), ...p.padding.map((q) => q[1])];
const seq = (from: number, n: number) => globalThis.Array.from({ length: n }, (_, i) => from + i);

/**
 * Contractions over windows, as `conv` and its transpose build them, become ONNX convolutions
 * instead of materialised patches. With patches `P = reshape(unfold(x))` of shape
 * `[N, g, C/g, ...window, ...out]`:
 * - forward, `P · kernel[g, O/g, C/g, ...window]` → `Conv(x, kernel)`;
 * - weight gradient, `ct[g, N, ...out, O/g] · P` (g = 1) → a `Conv` of the batch-transposed input
 *   with the batch-transposed cotangent as its kernel (strides and dilations swap roles);
 * - both, when few output positions meet a large filter (see viaGemm), → one `Gemm` with the
 *   im2col columns of the whole batch.
 * Anything else returns undefined and lowers generically.
 */
export function convolutionOnnx(
  e: OnnxEmitter,
  [a, b]: string[],
  { contract, batch }: DotParams,
  [av, bv]: ShapedArray[],
  out: ShapedArray,
): string | undefined {
  if (!isFloat(av.dtype)) return undefined;
  const forward = patchesBehind(e, a);
  if (forward && forward.p.padValue === 0) {
    const { x, xv, p } = forward,
      r = p.window.length;
    const [n, g, icg] = av.shape,
      [, og] = bv.shape;
    const taps = [2, ...seq(3, r)];
    const fits =
      av.shape.length === 3 + 2 * r &&
      shapesEqual(bv.shape, [g, og, icg, ...p.window]) &&
      n === xv.shape[0] &&
      g * icg === xv.shape[1] &&
      shapesEqual(contract[0], taps) &&
      shapesEqual(contract[1], taps) &&
      shapesEqual(batch[0], [1]) &&
      shapesEqual(batch[1], [0]);
    if (!fits) return undefined;
    const outSpatial = av.shape.slice(3 + r);
    if (g === 1 && viaGemm(av.dtype, n * sizeOf(outSpatial), sizeOf(bv.shape)) && !e.isConstant(b)) {
      const kernel = e.op('Reshape', [b, e.ints([og, icg * sizeOf(p.window)])]);
      const y = e.op('Gemm', [kernel, columns(e, x, xv, p)]); // [O, N * out]
      return e.op('Transpose', [e.op('Reshape', [y, e.ints([og, 1, n, ...outSpatial])])], {
        perm: [1, 2, ...seq(3, r), 0],
      });
    }
    const kernel = e.op('Reshape', [b, e.ints([g * og, icg, ...p.window])], { allowzero: 1 });
    const attrs = { group: g, strides: p.strides, dilations: p.dilation, pads: pairs(p) };
    const shape = [n, g * og, ...outSpatial];
    const y =
      g === 1 && computeDType(av.dtype) === 'float32'
        ? blockedConv(e, x, kernel, attrs, icg, og, p.window, n * sizeOf(outSpatial), shape)
        : e.op('Conv', [x, kernel], attrs, shape);
    const split = e.op('Reshape', [y, e.ints([n, g, og, ...outSpatial])], { allowzero: 1 });
    return e.op('Transpose', [split], { perm: [1, 0, ...seq(3, r), 2] });
  }
  const weight = patchesBehind(e, b);
  if (weight && weight.p.padValue === 0) {
    const { x, xv, p } = weight,
      r = p.window.length;
    const [g, n] = av.shape,
      og = av.shape[av.shape.length - 1],
      outSpatial = av.shape.slice(2, 2 + r);
    const c = xv.shape[1];
    const fits =
      g === 1 &&
      av.shape.length === 3 + r &&
      shapesEqual(bv.shape, [n, 1, c, ...p.window, ...outSpatial]) &&
      shapesEqual(contract[0], seq(1, 1 + r)) &&
      shapesEqual(contract[1], [0, ...seq(3 + r, r)]) &&
      shapesEqual(batch[0], [0]) &&
      shapesEqual(batch[1], [1]);
    if (!fits) return undefined;
    if (viaGemm(av.dtype, n * sizeOf(outSpatial), sizeOf(out.shape))) {
      const ct = e.op('Reshape', [a, e.ints([n * sizeOf(outSpatial), og])]);
      const y = e.op('Gemm', [ct, columns(e, x, xv, p)], { transA: 1, transB: 1 }); // [O, C * window]
      return e.op('Reshape', [y, e.ints(out.shape)]);
    }
    const inputT = onnxTranspose(e, x, xv.shape, [1, 0, ...seq(2, r)]); // [C, N, ...spatial]
    const ct = nchwBehind(e, a, r); // [N, O, ...out]
    const oneByOne = p.window.every((k, i) => k === 1 && p.padding[i][0] === 0 && p.padding[i][1] === 0);
    if (ct && oneByOne && ['float32', 'float64'].includes(computeDType(av.dtype))) {
      // A 1x1 filter's gradient is one product, ct[O, N * out] · x[C, N * out]ᵀ (x at the strides'
      // pixels): as a Conv with the whole image as its filter it ran at a fifth of GEMM's speed
      // (ResNet-50's, profiled: 1.7 → 0.3 ms), strided ones with 4x the work besides.
      const strided = p.strides.some((st) => st !== 1);
      const pixels = strided
        ? e.op('Slice', [
            x,
            e.ints(outSpatial.map(() => 0)),
            e.ints(outSpatial.map((o, i) => (o - 1) * p.strides[i] + 1)),
            e.ints(seq(2, r)),
            e.ints(p.strides),
          ])
        : x;
      const pixelsT = strided ? onnxTranspose(e, pixels, [n, c, ...outSpatial], [1, 0, ...seq(2, r)]) : inputT;
      const flat = (v: string, rows: number) => e.op('Reshape', [v, e.ints([rows, n * sizeOf(outSpatial)])]);
      const rows = onnxTranspose(e, ct, [n, og, ...outSpatial], [1, 0, ...seq(2, r)]);
      const y = e.op('Gemm', [flat(rows, og), flat(pixelsT, c)], { transB: 1 }); // [O, C]
      return e.op('Reshape', [y, e.ints(out.shape)]);
    }
    const kernel = e.op('Transpose', [ct ?? e.op('Reshape', [a, e.ints([n, ...outSpatial, og])], { allowzero: 1 })], {
      perm: ct ? [1, 0, ...seq(2, r)] : [1 + r, 0, ...seq(1, r)],
    }); // [O, N, ...out]
    // [C, O, >= window]: strides and dilations swap roles.
    const span = xv.shape
      .slice(2)
      .map(
        (s, i) =>
          Math.floor((s + p.padding[i][0] + p.padding[i][1] - p.strides[i] * (outSpatial[i] - 1) - 1) / p.dilation[i]) +
          1,
      );
    // A convolution of the input (batch as its channels) with the output gradient as its filter:
    // the blocked kernels run it 2-3x faster than ONNX Runtime's plain Conv with so large a filter.
    const attrs = { group: 1, strides: p.dilation, dilations: p.strides, pads: pairs(p) };
    const f32 = computeDType(av.dtype) === 'float32';
    const blocked = f32 && blockedKernels(e, n, og, outSpatial, c * sizeOf(span), kernel);
    let y: string;
    if (ct && !blocked && n * sizeOf(outSpatial) * sizeOf(span) > COLUMNS_IN_CACHE) {
      // ONNX Runtime's plain Conv unfolds a whole image's columns before its GEMM: N channels times
      // the output gradient's pixels times the filter's, past the cache for large images (LeNet-5's
      // conv1: 1.25M floats, 0.96 ms). One group per image keeps each one's columns small, and the
      // sum over the batch follows: ct[N * O, 1, ...out] straight from the NCHW cotangent (0.45 ms).
      const perImage = e.op('Conv', [inputT, e.op('Reshape', [ct, e.ints([n * og, 1, ...outSpatial])])], {
        ...attrs,
        group: n,
      }); // [C, N * O, ...span]
      const split = e.op('Reshape', [perImage, e.ints([c, n, og, ...span])]);
      y = e.op('ReduceSum', [split, e.ints([1])], { keepdims: 0 });
    } else
      y = blocked
        ? blockedConv(e, inputT, kernel, attrs, n, og, outSpatial, c * sizeOf(span))
        : e.op('Conv', [inputT, kernel], attrs);
    if (!shapesEqual(span, p.window))
      y = e.op('Slice', [y, e.ints(p.window.map(() => 0)), e.ints(p.window), e.ints(seq(2, r))]);
    return e.op('Reshape', [e.op('Transpose', [y], { perm: [1, 0, ...seq(2, r)] }), e.ints(out.shape)], {
      allowzero: 1,
    });
  }
  return undefined;
}

/**
 * A float32 2-d convolution (one group) on ONNX Runtime's blocked-channel (NCHWc) kernels, which
 * run this machine's convolutions several times faster than its plain `Conv`. ONNX Runtime's own
 * rewrite to them needs constant weights, and a training step's weights are inputs, so the rewrite
 * is done here: the filter is reordered inside the graph to `[O/B, C/B, kh, kw, B(in), B(out)]` (to
 * `[O/B, C, kh, kw, B]` when the input has fewer than B channels and stays NCHW), the input is
 * reordered to NCHWc and the output back. Elsewhere (other block sizes, exports) a plain `Conv`,
 * and for a constant filter too: ONNX Runtime's own rewrite then also fuses what follows into the
 * convolution (batch norm's scale and shift, ReLU, a residual add) and keeps activations blocked
 * from one convolution to the next.
 */
/**
 * Can a convolution from `c` to `o` channels use blocks of `b`? Reordering costs a pass over the
 * filter (ONNX Runtime merges the transposes into one that gathers single floats, ~5 ns each) and
 * saves time per output position: measured on ResNet-18, it pays from about 256 output positions
 * (batch times output pixels), and from 128 where the input is in whole blocks and each position's
 * dot products are long (at least 4096 taps: LeNet-5's conv2 filter gradient, 150 positions of 64
 * images by 10x10, 0.73 → 0.27 ms; ResNet-18's stem filter gradient, 8 images, stays faster as is).
 */
const blockable = (b: number, c: number, o: number, window: readonly number[], positions: number) =>
  window.length === 2 &&
  o % b === 0 &&
  (c % b === 0 || c < b) &&
  (positions >= 256 || (positions >= 128 && c % b === 0 && c * sizeOf(window) >= 4096));

/** Floats of im2col columns a plain Conv unfolds per image that still fit in this CPU's cache (1 MB). */
const COLUMNS_IN_CACHE = 1 << 18;

/** Does blockedConv run this convolution on the blocked kernels (else a plain Conv)? */
const blockedKernels = (
  e: OnnxEmitter,
  c: number,
  o: number,
  window: readonly number[],
  positions: number,
  kernel: string,
) => !!e.nchwcBlock && blockable(e.nchwcBlock, c, o, window, positions) && !e.isConstant(kernel);

function blockedConv(
  e: OnnxEmitter,
  x: string,
  kernel: string,
  attrs: Record<string, OnnxAttr>,
  c: number,
  o: number,
  window: readonly number[],
  positions: number,
  shape?: readonly number[],
): string {
  const b = e.nchwcBlock;
  if (!b || !blockedKernels(e, c, o, window, positions, kernel)) return e.op('Conv', [x, kernel], attrs, shape);
  const k = window[0] * window[1];
  const flat = e.op('Transpose', [e.op('Reshape', [kernel, e.ints([o, c * k])])], { perm: [1, 0] });
  return blockedConvOf(e, x, flat, b, attrs, c, o, window, shape);
}

/** blockedConv from its filter as `[C * window, O]` (input channels outer), on blocks of `b`. */
function blockedConvOf(
  e: OnnxEmitter,
  x: string,
  flat: string,
  b: number,
  attrs: Record<string, OnnxAttr>,
  c: number,
  o: number,
  window: readonly number[],
  shape?: readonly number[],
  flip = false,
): string {
  const nchw = c < b;
  const k = window[0] * window[1];
  const blocks = nchw ? [c, k, o / b, b] : [c / b, b, k, o / b, b];
  const order = nchw ? [2, 0, 1, 3] : [3, 0, 2, 1, 4];
  let blocked = e.op('Transpose', [e.op('Reshape', [flat, e.ints(blocks)])], { perm: order });
  // Both layouts put the window at axis 2; reversing it there moves whole blocks (a reversing Slice
  // moves single floats, 10x slower).
  if (flip) blocked = e.op('Gather', [blocked, e.ints(seq(0, k).reverse())], { axis: 2 });
  const filter = e.op('Reshape', [blocked, e.ints([o, c, ...window])]);
  const input = nchw ? x : e.op('com.microsoft.nchwc.ReorderInput', [x]);
  const y = e.op('com.microsoft.nchwc.Conv', [input, filter], attrs);
  return e.op('com.microsoft.nchwc.ReorderOutput', [y], { channels: o }, shape);
}

/**
 * The `[N, O, ...out]` value behind a cotangent in the conv rewrite's `[1, N, ...out, O]` layout, when it
 * is `transpose(reshape(v, [N, 1, O, ...out]))` as conv's own transpose rules build it: transposing `v`
 * directly saves a copy, and high-rank transposes are slow in ONNX Runtime.
 */
function nchwBehind(e: OnnxEmitter, name: string, r: number): string | undefined {
  const t = e.producer(name);
  if (t?.prim !== transposeP || !shapesEqual((t.params as { perm: number[] }).perm, [1, 0, ...seq(3, r), 2]))
    return undefined;
  const rs = e.producer(t.inputs[0]);
  if (rs?.prim !== reshapeP) return undefined;
  const [n, g, o] = t.inAvals[0].shape,
    v = rs.inAvals[0].shape;
  return g === 1 && shapesEqual(v, [n, o, ...t.inAvals[0].shape.slice(3)]) ? rs.inputs[0] : undefined;
}

/** A contraction (dot_general) recognised by its parameters: windows.ts cannot import dot.ts, which imports it. */
const isContraction = (p: OnnxProducer) =>
  p.prim.props?.linear === true && 'contract' in p.params && 'batch' in p.params;

/**
 * The input gradient of a convolution,
 * `fold(reshape(transpose(ct[N, g, O/g, ...out] · kernel[g, O/g, C/g, ...window])))`
 * as the transpose rules build it, becomes one `ConvTranspose`.
 */
function convInputGradOnnx(e: OnnxEmitter, name: string, p: FoldParams, shape: readonly number[]): string | undefined {
  const r = p.window.length;
  const rs = e.producer(name);
  const tr = rs?.prim === reshapeP ? e.producer(rs.inputs[0]) : undefined;
  if (
    tr?.prim !== transposeP ||
    !shapesEqual((tr.params as { perm: number[] }).perm, [1, 0, 2 + r, ...seq(3 + r, r), ...seq(2, r)])
  )
    return undefined;
  const dot = e.producer(tr.inputs[0]);
  if (!dot || !isContraction(dot) || !isFloat(dot.inAvals[0].dtype)) return undefined;
  const { contract, batch } = dot.params as DotParams;
  const [ctv, kv] = dot.inAvals;
  const [n, g, og] = ctv.shape,
    icg = kv.shape[2];
  const fits =
    ctv.shape.length === 3 + r &&
    shapesEqual(kv.shape, [g, og, icg, ...p.window]) &&
    shapesEqual(shape, [n, g * icg, ...p.spatial]) &&
    shapesEqual(contract[0], [2]) &&
    shapesEqual(contract[1], [1]) &&
    shapesEqual(batch[0], [1]) &&
    shapesEqual(batch[1], [0]);
  if (!fits) return undefined;
  const out = ctv.shape.slice(3);
  const ct = e.op('Reshape', [dot.inputs[0], e.ints([n, g * og, ...out])], { allowzero: 1 });
  const gemm = g === 1 && viaGemm(ctv.dtype, n * sizeOf(out), sizeOf(kv.shape));
  const blocked = gemm
    ? undefined
    : flippedConvTranspose(e, ct, dot.inputs[1], ctv.dtype, p, g, og, icg, n * sizeOf(p.spatial), shape);
  if (blocked) return blocked;
  if (gemm || (g === 1 && manySmallImages(ctv.dtype, n, sizeOf(out)))) {
    // The patches [N, C * window, out] = kernel[O, C * window]ᵀ · ct[N, O, out], then each window
    // back in place (Col2Im).
    const [positions, taps] = [sizeOf(out), icg * sizeOf(p.window)];
    const ctNcp = e.op('Reshape', [dot.inputs[0], e.ints([n, og, positions])]);
    const kernel = e.op('Reshape', [dot.inputs[1], e.ints([og, taps])]);
    let patches: string;
    if (gemm) {
      // A large filter: one GEMM over the batch, with the filter as GEMM's left operand, which MLAS
      // streams (as the right one it packs it whole: 1.6 → 1.4 ms in ResNet-18's layer4, profiled);
      // both transposes move whole rows.
      const rows = e.op('Reshape', [
        onnxTranspose(e, ctNcp, [n, og, positions], [1, 0, 2]),
        e.ints([og, n * positions]),
      ]);
      const columns = e.op('Reshape', [e.op('Gemm', [kernel, rows], { transA: 1 }), e.ints([taps, n, positions])]);
      patches = onnxTranspose(e, columns, [taps, n, positions], [1, 0, 2]);
    } else {
      // A small filter (many small images): one GEMM per image, the filter broadcast over the batch,
      // which leaves the cotangent and the patches in their layouts. LeNet-5's conv2 input gradient
      // (64 images of 10x10): transposes of 3.8 MB and 0.4 MB around one GEMM, 1.11 ms of kernel
      // time in a slow phase of the machine, against 0.45 ms for the batched product.
      patches = e.op('MatMul', [onnxTranspose(e, kernel, [og, taps], [1, 0]), ctNcp]);
    }
    return foldOnnx(e, patches, { shape: [n, icg, ...p.window, ...out], dtype: ctv.dtype }, p, shape);
  }
  const kernel = e.op('Reshape', [dot.inputs[1], e.ints([g * og, icg, ...p.window])], { allowzero: 1 });
  return e.op('ConvTranspose', [ct, kernel], {
    group: g,
    strides: p.strides,
    dilations: p.dilation,
    pads: pairs(p),
    output_padding: outputPadding(p, out),
  });
}

/**
 * A stride-1 transposed convolution as a convolution with the filter flipped and its channel axes
 * swapped, so that it runs on the blocked kernels (see blockedConv): ONNX Runtime's `ConvTranspose`
 * has no blocked form, and a training step computes one per convolution for its input gradient.
 * The swap is one more transpose of the (small) filter, the flip one Gather of whole blocks.
 * Undefined where the blocked kernels do not apply, or the padding exceeds what a convolution can
 * undo (more than the dilated window).
 */
function flippedConvTranspose(
  e: OnnxEmitter,
  ct: string,
  kernel: string,
  dtype: DType,
  p: FoldParams,
  g: number,
  o: number,
  c: number,
  positions: number,
  shape: readonly number[],
): string | undefined {
  const b = e.nchwcBlock;
  const reach = p.window.map((w, i) => p.dilation[i] * (w - 1));
  if (
    !b ||
    g !== 1 ||
    computeDType(dtype) !== 'float32' ||
    e.isConstant(kernel) ||
    p.strides.some((s) => s !== 1) ||
    p.padding.some(([lo, hi], i) => lo > reach[i] || hi > reach[i]) ||
    !blockable(b, o, c, p.window, positions) ||
    positions < 512
  )
    return undefined;
  const k = sizeOf(p.window);
  // flat[(o, t), c] = kernel[o, c, t], flipped once blocked: reversing the flattened window flips every spatial axis.
  const taps = e.op('Reshape', [kernel, e.ints([o, c, k])]);
  const flat = e.op('Reshape', [e.op('Transpose', [taps], { perm: [0, 2, 1] }), e.ints([o * k, c])]);
  const attrs = {
    group: 1,
    strides: p.window.map(() => 1),
    dilations: p.dilation,
    pads: [...p.padding.map(([lo], i) => reach[i] - lo), ...p.padding.map(([, hi], i) => reach[i] - hi)],
  };
  return blockedConvOf(e, ct, flat, b, attrs, o, c, p.window, shape, k > 1);
}

/** ConvTranspose's output padding that restores the exact spatial size (what the forward's floor dropped). */
const outputPadding = (p: FoldParams, out: readonly number[]) =>
  p.spatial.map(
    (s, i) =>
      s + p.padding[i][0] + p.padding[i][1] - p.strides[i] * (out[i] - 1) - 1 - p.dilation[i] * (p.window[i] - 1),
  );
