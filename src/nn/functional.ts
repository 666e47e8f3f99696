/**
 * `nn.functional`: the computations behind the layers, as plain functions with PyTorch's
 * argument order and layouts (NCHW activations, OIHW conv weights, IOHW transposed-conv
 * weights, `[out, in]` linear weights) and camelCased options.
 * @module
 */
import type { Array, ArrayLike } from '../core/array.js';
import { type DType, isFloat, isInteger } from '../core/dtype.js';
import { DTypeError, ShapeError, ValueError, fmtShape } from '../core/errors.js';
import { checkOptions, codecs, t } from '../core/options.js';
import { normAxis } from '../core/shape.js';
import { type UnfoldParams, dotGeneral, unfold, windowOutShape } from '../primitives/index.js';
import * as P from '../primitives/index.js';
import * as np from '../np/index.js';
import { scan } from '../control/scan.js';
import { jit } from '../transforms/jit.js';
import { customJvp } from '../control/custom.js';
import { uniform as randomUniform } from '../random.js';
import { fusedMaxPool } from './fused.js';

// ---------------------------------------------------------------- activations

/** max(x, 0); the derivative at 0 is 0 (as in JAX and PyTorch). @category Activations */
export const relu = (x: ArrayLike): Array => np.where(np.lessEqual(x, 0), 0, x); // NaN stays NaN, as in JAX
/** x for x > 0, `negativeSlope * x` otherwise (default 0.01). @category Activations */
export const leakyRelu = (x: ArrayLike, negativeSlope = 0.01): Array =>
  np.where(np.greater(x, 0), x, np.multiply(x, negativeSlope));
/** x for x > 0, `alpha * (e^x - 1)` otherwise (Clevert et al. 2015). @category Activations */
export const elu = (x: ArrayLike, alpha = 1): Array =>
  np.where(np.greater(x, 0), x, np.multiply(np.expm1(np.minimum(x, 0)), alpha));
/** Logistic sigmoid. @category Activations */
export const sigmoid = np.sigmoid;
/** Hyperbolic tangent. @category Activations */
export const tanh = np.tanh;
/**
 * GELU (Hendrycks & Gimpel 2016): `x * Phi(x)` exactly (`approximate: 'none'`, PyTorch's
 * default) or with the tanh approximation (`'tanh'`, JAX's default).
 * @category Activations
 */
export function gelu(x: ArrayLike, opts?: { approximate?: 'none' | 'tanh' }): Array {
  const o = checkOptions('gelu', { approximate: t.keyof({ none: null, tanh: null }) }, opts);
  if (o.approximate === 'tanh') {
    const inner = np.multiply(np.add(x, np.multiply(np.power(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
    return np.multiply(np.multiply(x, 0.5), np.add(np.tanh(inner), 1));
  }
  return np.multiply(np.multiply(x, 0.5), np.add(np.erf(np.multiply(x, Math.SQRT1_2)), 1));
}
/** log(1 + e^x), computed stably as max(x, 0) + log1p(e^-|x|). @category Activations */
export const softplus = (x: ArrayLike): Array => np.add(np.maximum(x, 0), np.log1p(np.exp(np.negative(np.abs(x)))));
/** SiLU, also called swish (Elfwing et al. 2018): `x * sigmoid(x)`. @category Activations */
export const silu = (x: ArrayLike): Array => np.multiply(x, np.sigmoid(x));
/** Alias of {@link silu}. @category Activations */
export const swish = silu;
/** Mish (Misra 2019): `x * tanh(softplus(x))`. @category Activations */
export const mish = (x: ArrayLike): Array => np.multiply(x, np.tanh(softplus(x)));
/** `min(max(x, 0), 6)`. @category Activations */
export const relu6 = (x: ArrayLike): Array => np.minimum(relu(x), 6);
/** PyTorch's hard sigmoid: `relu6(x + 3) / 6`. @category Activations */
export const hardSigmoid = (x: ArrayLike): Array => np.divide(relu6(np.add(x, 3)), 6);
/** Hard swish (Howard et al. 2019): `x * relu6(x + 3) / 6`. @category Activations */
export const hardSwish = (x: ArrayLike): Array => np.multiply(x, hardSigmoid(x));
/** `x` for x > 0, `alpha * (e^(x/alpha) - 1)` otherwise (Barron 2017). @category Activations */
export const celu = (x: ArrayLike, alpha = 1): Array =>
  np.where(np.greater(x, 0), x, np.multiply(np.expm1(np.divide(np.minimum(x, 0), alpha)), alpha));
/** SELU (Klambauer et al. 2017): `scale * elu(x, alpha)` with their fixed constants. @category Activations */
export const selu = (x: ArrayLike): Array => np.multiply(elu(x, 1.6732632423543772), 1.0507009873554805);
/** `log(sigmoid(x))`, computed stably as `-softplus(-x)`. @category Activations */
export const logSigmoid = (x: ArrayLike): Array => np.negative(softplus(np.negative(x)));
/** `x / (1 + |x|)`. @category Activations */
export const softsign = (x: ArrayLike): Array => np.divide(x, np.add(np.abs(x), 1));
/** Gated linear unit (Dauphin et al. 2017): halves `a, b` of `axis`, `a * sigmoid(b)`. @category Activations */
export function glu(x: ArrayLike, axis = -1): Array {
  const a = np.asarray(x);
  const ax = normAxis('glu', axis, a.ndim);
  if (a.shape[ax] % 2 !== 0)
    throw new ShapeError(`glu: axis ${axis} of ${fmtShape(a.shape)} has odd length ${a.shape[ax]} (it is halved)`);
  const [first, second] = np.split(a, 2, { axis: ax });
  return np.multiply(first, np.sigmoid(second));
}

/**
 * `labels` (integers) as one-hot vectors along a new last axis of `numClasses` (out-of-range labels
 * give all zeros, as in JAX).
 * @example nn.oneHot(np.array([2, 0], { dtype: 'int32' }), 3) // [[0, 0, 1], [1, 0, 0]]
 * @category Losses
 */
export function oneHot(labels: ArrayLike, numClasses: number, opts?: { dtype?: DType }): Array {
  const o = checkOptions('oneHot', { dtype: codecs.dtype }, opts);
  if (!Number.isInteger(numClasses) || numClasses < 0)
    throw new ValueError(`oneHot: numClasses must be a non-negative integer, got ${numClasses}`);
  const l = np.asarray(labels);
  if (!isInteger(l.dtype)) throw new DTypeError(`oneHot: labels must be integers, got ${l.dtype}`);
  const classes = np.arange(numClasses, undefined, 1, { dtype: 'int32' });
  return np.equal(np.expandDims(np.astype(l, 'int32'), -1), classes).astype(o.dtype ?? 'float32');
}
/**
 * `x` shifted by its (finite) max along `axis`, and the log of the shifted exponentials' sum: working
 * in the shifted domain keeps large logits exact (`log(sum) + max` would round away the small part).
 */
function shiftedLogSum(x: ArrayLike, axis: number): [Array, Array] {
  const a = np.asarray(x);
  const m = np.max(a, { axis, keepdims: true });
  const shifted = np.subtract(a, np.stopGradient(np.where(np.isfinite(m), m, 0)));
  return [shifted, np.log(np.sum(np.exp(shifted), { axis, keepdims: true }))];
}
/** Softmax along `axis` (default last), shifted by the max for stability. @category Activations */
export function softmax(x: ArrayLike, axis = -1): Array {
  const [shifted] = shiftedLogSum(x, axis);
  const e = np.exp(shifted);
  return np.divide(e, np.sum(e, { axis, keepdims: true }));
}
/** log(softmax(x)) along `axis`, computed stably. @category Activations */
export function logSoftmax(x: ArrayLike, axis = -1): Array {
  const [shifted, logSum] = shiftedLogSum(x, axis);
  return np.subtract(shifted, logSum);
}

// ---------------------------------------------------------------- linear and embedding

/** `x @ w^T + b` with PyTorch's `w: [out, in]`; x is `[..., in]`. @category Layers */
export function linear(x: Array, w: Array, b?: Array | null): Array {
  if (w.ndim !== 2 || x.shape[x.ndim - 1] !== w.shape[1])
    throw new ShapeError(`linear: input ${fmtShape(x.shape)} does not fit weight ${fmtShape(w.shape)} ([out, in])`);
  const y = dotGeneral(x, w, { contract: [[x.ndim - 1], [1]], batch: [[], []] });
  return b ? np.add(y, b) : y;
}

/** Rows of `weight [V, D]` at integer `indices` (any shape): `indices.shape + [D]`. @category Layers */
export function embedding(indices: Array, weight: Array): Array {
  if (indices.dtype !== 'int32' && indices.dtype !== 'uint32')
    throw new ValueError(`embedding: indices must be integers, got ${indices.dtype}`);
  return np.take(weight, indices, { axis: 0 });
}

// ---------------------------------------------------------------- convolution

/** A size per spatial axis, or one for all. @category Layers */
export type IntOrList = number | number[];
const tuple = (v: IntOrList | undefined, n: number, dflt: number): number[] =>
  v === undefined ? new globalThis.Array(n).fill(dflt) : typeof v === 'number' ? new globalThis.Array(n).fill(v) : v;
const intOrList = t.union([t.number, t.array(t.number)]);

/** Options of {@link conv} (and conv1d/conv2d). @category Layers */
export interface ConvOptions {
  stride?: IntOrList;
  /** Symmetric zero padding per spatial axis, or 'same' / 'valid'. */
  padding?: IntOrList | 'same' | 'valid';
  dilation?: IntOrList;
  groups?: number;
}
const convProps = {
  stride: intOrList,
  padding: t.union([intOrList, t.literal('same'), t.literal('valid')]),
  dilation: intOrList,
  groups: t.number,
};

/** Resolves padding (numbers, 'same', 'valid') into [before, after] pairs. */
function padPairs(
  fn: string,
  padding: ConvOptions['padding'],
  spatial: readonly number[],
  window: number[],
  strides: number[],
  dilation: number[],
): [number, number][] {
  if (padding === 'valid' || padding === undefined) return spatial.map(() => [0, 0]);
  if (padding === 'same') {
    return spatial.map((s, i) => {
      const total = Math.max(0, (Math.ceil(s / strides[i]) - 1) * strides[i] + (window[i] - 1) * dilation[i] + 1 - s);
      return [Math.floor(total / 2), total - Math.floor(total / 2)];
    });
  }
  const p = tuple(padding, spatial.length, 0);
  if (p.length !== spatial.length) throw new ValueError(`${fn}: padding [${p}] needs ${spatial.length} entries`);
  return p.map((v) => [v, v]);
}

/**
 * N-d convolution (cross-correlation, as in PyTorch): `x [N, C_in, ...spatial]`,
 * `w [C_out, C_in/groups, ...kernel]`, optional `b [C_out]`. Lowered to unfold (im2col) + dot_general.
 * @category Layers
 */
export function conv(x: Array, w: Array, b: Array | null | undefined, opts: ConvOptions = {}, name = 'conv'): Array {
  const { p, groups, outShape } = convGeometry(x.shape, w.shape, opts, name);
  // Large eager convolutions run as one staged graph, which the CPU backend hands to a native Conv.
  const staged = x.toConcrete() !== null && w.toConcrete() !== null && x.size + w.size >= STAGED_CONV_ELEMENTS;
  const yy = staged ? stagedCorrelate(x, w, p, groups) : correlate(x, w, p, groups);
  return b ? np.add(yy, P.reshape(b, [outShape[1], ...outShape.slice(2).map(() => 1)])) : yy;
}

/**
 * The output shape of {@link conv} on inputs of these shapes, with its checks, computing nothing.
 * @example convOutShape([8, 3, 32, 32], [16, 3, 3, 3], { stride: 2, padding: 1 }) // [8, 16, 16, 16]
 * @category Layers
 */
export const convOutShape = (
  xShape: readonly number[],
  wShape: readonly number[],
  opts: ConvOptions = {},
  name = 'conv',
): number[] => convGeometry(xShape, wShape, opts, name).outShape;

/** The window, groups and output shape of {@link conv} on `x` and `w` of these shapes, checked. */
function convGeometry(
  xShape: readonly number[],
  wShape: readonly number[],
  opts: ConvOptions = {},
  name = 'conv',
): { p: UnfoldParams; groups: number; outShape: number[] } {
  const o = checkOptions(name, convProps, opts);
  const r = wShape.length - 2;
  if (xShape.length !== r + 2)
    throw new ShapeError(
      `${name}: input ${fmtShape(xShape)} must be [N, C, ${r} spatial dims] for weight ${fmtShape(wShape)}`,
    );
  const groups = o.groups ?? 1;
  const c = xShape[1];
  const [oc, icg] = wShape;
  if (c % groups !== 0 || oc % groups !== 0 || icg * groups !== c) {
    throw new ShapeError(
      `${name}: input has ${c} channels but weight ${fmtShape(wShape)} with groups=${groups} expects ${icg * groups}`,
    );
  }
  const window = wShape.slice(2);
  const strides = tuple(o.stride, r, 1),
    dilation = tuple(o.dilation, r, 1);
  const padding = padPairs(name, o.padding as ConvOptions['padding'], xShape.slice(2), window, strides, dilation);
  const p: UnfoldParams = { window, strides, padding, dilation, padValue: 0 };
  const out = windowOutShape(xShape.slice(2), p);
  if (out.some((d) => d <= 0))
    throw new ShapeError(
      `${name}: kernel ${fmtShape(window)} with dilation [${dilation}] is larger than the padded input ` +
        `${fmtShape(xShape)}`,
    );
  return { p, groups, outShape: [xShape[0], oc, ...out] };
}

const STAGED_CONV_ELEMENTS = 1 << 16;

/** The convolution proper: unfold (im2col) contracted with the kernel over channels and window, per group. */
function correlate(x: Array, w: Array, p: UnfoldParams, groups: number): Array {
  const [n] = x.shape,
    [oc, icg] = w.shape,
    window = p.window,
    r = window.length;
  const out = windowOutShape(x.shape.slice(2), p);
  const patches = P.reshape(unfold(x, p), [n, groups, icg, ...window, ...out]); // [N, g, C/g, ...k, ...out]
  const wg = P.reshape(w, [groups, oc / groups, icg, ...window]);
  const taps = [2, ...window.map((_, i) => 3 + i)];
  const y = dotGeneral(patches, wg, { contract: [taps, taps], batch: [[1], [0]] }); // [g, N, ...out, O/g]
  const perm = [1, 0, r + 2, ...out.map((_, i) => 2 + i)];
  return P.reshape(P.transpose(y, perm), [n, oc, ...out]);
}
const stagedCorrelate = jit(correlate, { staticArgnums: [2, 3] });
/** 1-d convolution: `x [N, C, L]`, `w [O, C/g, K]`. @example conv1d(x, w, b, {padding: 1}) @category Layers */
export const conv1d = (x: Array, w: Array, b?: Array | null, opts?: ConvOptions): Array =>
  conv(x, w, b, opts, 'conv1d');
/**
 * 2-d convolution: `x [N, C, H, W]`, `w [O, C/g, kH, kW]`. @example conv2d(x, w, b, {stride: 2,
 * padding: 'same'}) @category Layers
 */
export const conv2d = (x: Array, w: Array, b?: Array | null, opts?: ConvOptions): Array =>
  conv(x, w, b, opts, 'conv2d');

/** Options of {@link convTranspose2d}. @category Layers */
export interface ConvTransposeOptions {
  stride?: IntOrList;
  padding?: IntOrList;
  outputPadding?: IntOrList;
  groups?: number;
  dilation?: IntOrList;
}

/**
 * Transposed convolution (the gradient of conv with respect to its input), PyTorch layout
 * `w [C_in, C_out/groups, ...kernel]`. Lowered to a dilated, padded convolution with the
 * flipped kernel.
 * @category Layers
 */
export function convTranspose(
  x: Array,
  w: Array,
  b: Array | null | undefined,
  opts: ConvTransposeOptions = {},
  name = 'convTranspose',
): Array {
  const o = checkOptions(
    name,
    { stride: intOrList, padding: intOrList, outputPadding: intOrList, groups: t.number, dilation: intOrList },
    opts,
  );
  const r = w.ndim - 2;
  const groups = o.groups ?? 1;
  const [cin, ocg] = w.shape;
  if (x.ndim !== r + 2 || x.shape[1] !== cin || cin % groups !== 0) {
    throw new ShapeError(
      `${name}: input ${fmtShape(x.shape)} does not fit weight ${fmtShape(w.shape)} ([C_in, C_out/groups, ` +
        `...kernel]) with groups=${groups}`,
    );
  }
  const window = w.shape.slice(2);
  const s = tuple(o.stride, r, 1),
    pd = tuple(o.padding, r, 0),
    op = tuple(o.outputPadding, r, 0),
    d = tuple(o.dilation, r, 1);
  op.forEach((v, i) => {
    if (v >= Math.max(s[i], d[i]))
      throw new ValueError(`${name}: outputPadding ${v} must be smaller than stride or dilation (${s[i]}, ${d[i]})`);
  });
  // Spread the input by the stride, pad by dilation*(k-1) - padding (negative crops), then correlate
  // with the flipped kernel.
  const lo = window.map((k, i) => d[i] * (k - 1) - pd[i]);
  const xd = P.pad(x, [0, 0, ...lo], [0, 0, ...lo.map((l, i) => l + op[i])], [0, 0, ...s.map((v) => v - 1)], 0);
  const wg = P.reshape(w, [groups, cin / groups, ocg, ...window]);
  const wt = P.reshape(P.transpose(wg, [0, 2, 1, ...window.map((_, i) => 3 + i)]), [
    groups * ocg,
    cin / groups,
    ...window,
  ]);
  const flipped = np.flip(wt, { axis: window.map((_, i) => 2 + i) });
  return conv(xd, flipped, b, { dilation: d, groups }, name);
}
/** 2-d transposed convolution, `x [N, C_in, H, W]`, `w [C_in, C_out/g, kH, kW]`. @category Layers */
export const convTranspose2d = (x: Array, w: Array, b?: Array | null, opts?: ConvTransposeOptions): Array =>
  convTranspose(x, w, b, opts, 'convTranspose2d');

// ---------------------------------------------------------------- pooling

/** Options of the pooling functions. @category Layers */
export interface PoolOptions {
  kernelSize: IntOrList;
  /** Defaults to kernelSize. */
  stride?: IntOrList;
  padding?: IntOrList;
  dilation?: IntOrList;
  ceilMode?: boolean;
}
const poolProps = {
  kernelSize: intOrList,
  stride: intOrList,
  padding: intOrList,
  dilation: intOrList,
  ceilMode: t.boolean,
};

/** Window params for pooling over the trailing `r` axes, including ceil-mode's extra padding. */
function poolWindow(fn: string, x: Array, o: Partial<PoolOptions>, r: number): UnfoldParams {
  if (o.kernelSize === undefined) throw new ValueError(`${fn}: kernelSize is required`);
  if (x.ndim < r + 1) throw new ShapeError(`${fn}: input ${fmtShape(x.shape)} needs at least ${r + 1} axes`);
  const window = tuple(o.kernelSize, r, 1),
    strides = tuple(o.stride ?? o.kernelSize, r, 1);
  const pad = tuple(o.padding, r, 0),
    dilation = tuple(o.dilation, r, 1);
  const spatial = x.shape.slice(x.ndim - r);
  pad.forEach((p, i) => {
    if (p > window[i] / 2)
      throw new ValueError(`${fn}: padding ${p} must be at most half the kernel size ${window[i]}`);
  });
  const padding = spatial.map((s, i): [number, number] => {
    if (!o.ceilMode) return [pad[i], pad[i]];
    const span = s + 2 * pad[i] - dilation[i] * (window[i] - 1) - 1;
    let n = Math.ceil(span / strides[i]) + 1;
    if ((n - 1) * strides[i] >= s + pad[i]) n--; // the last window must start inside the input or left padding
    return [pad[i], pad[i] + Math.max(0, (n - 1) * strides[i] - span)];
  });
  return { window, strides, padding, dilation, padValue: 0 };
}
const windowAxes = (ndim: number, r: number) => globalThis.Array.from({ length: r }, (_, i) => ndim - r + i);

/**
 * Max pooling over the trailing 2 axes (NCHW). Padding counts as -infinity. @example maxPool2d(x,
 * {kernelSize: 2}) @category Layers
 */
export function maxPool2d(x: Array, opts: PoolOptions): Array {
  const p = poolWindow('maxPool2d', x, checkOptions('maxPool2d', poolProps, opts), 2);
  return fusedMaxPool(x, p, (v) => P.reduceMax(unfold(v, { ...p, padValue: -Infinity }), windowAxes(v.ndim, 2)));
}

/** Average pooling over the trailing 2 axes; `countIncludePad` (default true) as in PyTorch. @category Layers */
export function avgPool2d(x: Array, opts: PoolOptions & { countIncludePad?: boolean }): Array {
  const o = checkOptions('avgPool2d', { ...poolProps, countIncludePad: t.boolean }, opts);
  const p = poolWindow('avgPool2d', x, o, 2);
  const axes = windowAxes(x.ndim, 2);
  const sums = P.reduceSum(unfold(x, p), axes);
  // The divisor counts window taps inside the input (and inside the symmetric padding if included).
  const spatial = x.shape.slice(x.ndim - 2);
  const pad = tuple(o.padding, 2, 0);
  const include = o.countIncludePad ?? true;
  const ones = np.ones(include ? spatial.map((s, i) => s + 2 * pad[i]) : spatial);
  const countP = include ? { ...p, padding: p.padding.map(([, hi], i): [number, number] => [0, hi - pad[i]]) } : p;
  const counts = P.reduceSum(unfold(ones, countP), [0, 1]);
  return np.divide(sums, counts);
}

/** Averaging matrix `[out, n]` of adaptive pooling: row i averages `floor(i*n/out) .. ceil((i+1)*n/out) - 1`. */
function adaptiveMatrix(n: number, out: number, dtype: DType): Array {
  const data: number[][] = [];
  for (let i = 0; i < out; i++) {
    const lo = Math.floor((i * n) / out),
      hi = Math.ceil(((i + 1) * n) / out);
    data.push(globalThis.Array.from({ length: n }, (_, j) => (j >= lo && j < hi ? 1 / (hi - lo) : 0)));
  }
  return np.array(data, { dtype });
}
/** Adaptive average pooling of `[N, C, H, W]` to `outputSize` (PyTorch's window rule). @category Layers */
export function adaptiveAvgPool2d(x: Array, outputSize: IntOrList): Array {
  const [oh, ow] = tuple(outputSize, 2, 1);
  if (x.ndim !== 4) throw new ShapeError(`adaptiveAvgPool2d: expected [N, C, H, W], got ${fmtShape(x.shape)}`);
  return np.einsum(
    'nchw,ih,jw->ncij',
    x,
    adaptiveMatrix(x.shape[2], oh, x.dtype),
    adaptiveMatrix(x.shape[3], ow, x.dtype),
  );
}
/** Mean over all spatial axes: `[N, C, ...] -> [N, C]`. @category Layers */
export const globalAvgPool = (x: Array): Array => np.mean(x, { axis: windowAxes(x.ndim, x.ndim - 2) });
/** Max over all spatial axes: `[N, C, ...] -> [N, C]`. @category Layers */
export const globalMaxPool = (x: Array): Array => np.max(x, { axis: windowAxes(x.ndim, x.ndim - 2) });

// ---------------------------------------------------------------- normalisation

/** Options of {@link batchNorm}. @category Layers */
export interface BatchNormOptions {
  training?: boolean;
  momentum?: number;
  eps?: number;
}

/**
 * Batch normalisation (Ioffe & Szegedy 2015) over axis 1 (channels): in training, normalise
 * with the batch's biased statistics and return updated running statistics (PyTorch's rule:
 * the running variance uses the unbiased estimate); in inference, use the running statistics.
 * @category Layers
 */
export function batchNorm(
  x: Array,
  runningMean: Array,
  runningVar: Array,
  weight: Array | null,
  bias: Array | null,
  opts: BatchNormOptions = {},
): { y: Array; runningMean: Array; runningVar: Array } {
  const o = checkOptions('batchNorm', { training: t.boolean, momentum: t.number, eps: t.number }, opts);
  const eps = o.eps ?? 1e-5,
    momentum = o.momentum ?? 0.1;
  const c = x.shape[1];
  if (x.ndim < 2 || runningMean.shape.join() !== `${c}` || runningVar.shape.join() !== `${c}`) {
    throw new ShapeError(
      `batchNorm: input ${fmtShape(x.shape)} has ${c} channels but running stats are ` +
        `${fmtShape(runningMean.shape)}, ${fmtShape(runningVar.shape)}`,
    );
  }
  if (!(o.training ?? true)) {
    const bshape = x.shape.map((d, i) => (i === 1 ? d : 1));
    // The per-channel factors are combined first (on C values), so the whole input sees one
    // multiply and one add, as PyTorch's CPU kernels do.
    const inverseStd = np.rsqrt(np.add(P.reshape(runningVar, bshape), eps));
    const scale = weight ? np.multiply(inverseStd, P.reshape(weight, bshape)) : inverseStd;
    const shift = np.subtract(bias ? P.reshape(bias, bshape) : 0, np.multiply(P.reshape(runningMean, bshape), scale));
    return { y: np.add(np.multiply(x, scale), shift), runningMean, runningVar };
  }
  const [y, mean, variance] = normalizeBatch(eps)(
    x,
    weight ?? np.ones([c], { dtype: x.dtype }),
    bias ?? np.zeros([c], { dtype: x.dtype }),
  );
  const n = x.size / c;
  const m = np.stopGradient(mean),
    v = np.stopGradient(variance);
  return {
    y,
    runningMean: np.add(np.multiply(runningMean, 1 - momentum), np.multiply(m, momentum)),
    runningVar: np.add(np.multiply(runningVar, 1 - momentum), np.multiply(v, (momentum * n) / Math.max(1, n - 1))),
  };
}

type Normalize = (x: Array, weight: Array, bias: Array) => [Array, Array, Array];
const normalizers = new Map<number, Normalize>();

/**
 * Training-mode batch normalisation `(x, weight, bias) -> [y, batch mean, biased batch variance]`
 * with its derivative written out: with `c = x - mean`, `s = 1/sqrt(var + eps)`, `k = s·weight`,
 * `dy = k·dx - k·mean(dx) - c·k·s²·mean(c·dx) + c·s·dweight + dbias`, each term one full-size
 * product at most, so that its transpose (the backward pass) makes 7 passes over the input's size
 * where differentiating the forward pass made 11.
 */
function normalizeBatch(eps: number): Normalize {
  let f = normalizers.get(eps);
  if (f) return f;
  const forward = (x: Array, weight: Array, bias: Array) => {
    const axes = x.shape.map((_, i) => i).filter((i) => i !== 1);
    const channel = (a: Array) =>
      P.reshape(
        a,
        x.shape.map((d, i) => (i === 1 ? d : 1)),
      );
    const perChannel = (a: Array) => P.reshape(a, [x.shape[1]]);
    const sum = (a: Array) => np.sum(a, { axis: axes, keepdims: true });
    const n = x.size / x.shape[1];
    const mean = np.divide(sum(x), n);
    const centered = np.subtract(x, mean);
    const variance = np.divide(sum(np.square(centered)), n);
    const inverseStd = np.rsqrt(np.add(variance, eps));
    // The per-channel factors are combined first (on C values), so the whole input sees one
    // multiply and one add, as PyTorch's CPU kernels do.
    const scale = np.multiply(inverseStd, channel(weight));
    const y = np.add(np.multiply(centered, scale), channel(bias));
    const outs: [Array, Array, Array] = [y, perChannel(mean), perChannel(variance)];
    return { outs, n, channel, perChannel, sum, centered, inverseStd, scale };
  };
  f = customJvp(
    (x: Array, weight: Array, bias: Array) => forward(x, weight, bias).outs,
    ([x, weight, bias], [dx, dweight, dbias]) => {
      const { outs, n, channel, perChannel, sum, centered, inverseStd, scale } = forward(x, weight, bias);
      const sumDx = sum(dx),
        sumCDx = sum(np.multiply(dx, centered));
      // Per-channel coefficients from the primals alone (computed in the forward pass under
      // linearisation), so that each full-size term of the tangent is one product.
      const meanCoef = np.divide(np.negative(scale), n);
      const centeredCoef = np.multiply(meanCoef, np.square(inverseStd));
      const dy = np.add(
        np.add(np.multiply(dx, scale), np.multiply(sumDx, meanCoef)),
        np.add(
          np.multiply(centered, np.add(np.multiply(sumCDx, centeredCoef), np.multiply(channel(dweight), inverseStd))),
          channel(dbias),
        ),
      );
      const tangents: [Array, Array, Array] = [
        dy,
        perChannel(np.divide(sumDx, n)),
        perChannel(np.multiply(sumCDx, 2 / n)),
      ];
      return [outs, tangents];
    },
  );
  normalizers.set(eps, f);
  return f;
}

/** Layer normalisation (Ba et al. 2016) over the trailing `normalizedShape` axes (biased variance). @category Layers */
export function layerNorm(
  x: Array,
  normalizedShape: number | number[],
  weight?: Array | null,
  bias?: Array | null,
  opts?: { eps?: number },
): Array {
  const o = checkOptions('layerNorm', { eps: t.number }, opts);
  const ns = typeof normalizedShape === 'number' ? [normalizedShape] : normalizedShape;
  if (x.shape.slice(x.ndim - ns.length).join() !== ns.join())
    throw new ShapeError(`layerNorm: input ${fmtShape(x.shape)} does not end in normalizedShape ${fmtShape(ns)}`);
  const axes = windowAxes(x.ndim, ns.length);
  const mean = np.mean(x, { axis: axes, keepdims: true });
  const centered = np.subtract(x, mean);
  let y = np.multiply(
    centered,
    np.rsqrt(np.add(np.mean(np.square(centered), { axis: axes, keepdims: true }), o.eps ?? 1e-5)),
  );
  if (weight) y = np.multiply(y, weight);
  if (bias) y = np.add(y, bias);
  return y;
}

/**
 * RMS normalisation (Zhang & Sennrich 2019) over the trailing `normalizedShape` axes: `x / sqrt(mean(x^2) + eps)`,
 * times `weight` (PyTorch's `nn.RMSNorm`; `eps` defaults to the dtype's machine epsilon, as there).
 * @category Layers
 */
export function rmsNorm(
  x: Array,
  normalizedShape: number | number[],
  weight?: Array | null,
  opts?: { eps?: number },
): Array {
  const o = checkOptions('rmsNorm', { eps: t.number }, opts);
  const ns = typeof normalizedShape === 'number' ? [normalizedShape] : normalizedShape;
  if (x.shape.slice(x.ndim - ns.length).join() !== ns.join())
    throw new ShapeError(`rmsNorm: input ${fmtShape(x.shape)} does not end in normalizedShape ${fmtShape(ns)}`);
  const eps = o.eps ?? np.finfo(isFloat(x.dtype) ? x.dtype : 'float32').eps;
  const ms = np.mean(np.square(x), { axis: windowAxes(x.ndim, ns.length), keepdims: true });
  const y = np.multiply(x, np.rsqrt(np.add(ms, eps)));
  return weight ? np.multiply(y, weight) : y;
}

/**
 * Group normalisation (Wu & He 2018) of `[N, C, ...]`: channels in `numGroups` groups, each
 * normalised over its channels and all spatial positions (biased variance), then the per-channel
 * `weight` and `bias` (PyTorch's `nn.GroupNorm`).
 * @category Layers
 */
export function groupNorm(
  x: Array,
  numGroups: number,
  weight?: Array | null,
  bias?: Array | null,
  opts?: { eps?: number },
): Array {
  const o = checkOptions('groupNorm', { eps: t.number }, opts);
  const [n, c] = x.shape;
  if (x.ndim < 2 || !Number.isInteger(numGroups) || numGroups < 1 || c % numGroups !== 0)
    throw new ShapeError(
      `groupNorm: input ${fmtShape(x.shape)} needs [N, C, ...] with C divisible by ${numGroups} groups`,
    );
  const grouped = np.reshape(x, [n, numGroups, -1]);
  const mean = np.mean(grouped, { axis: 2, keepdims: true });
  const centered = np.subtract(grouped, mean);
  const variance = np.mean(np.square(centered), { axis: 2, keepdims: true });
  let y = np.reshape(np.multiply(centered, np.rsqrt(np.add(variance, o.eps ?? 1e-5))), x.shape);
  const perChannel = [c, ...x.shape.slice(2).map(() => 1)];
  if (weight) y = np.multiply(y, np.reshape(weight, perChannel));
  if (bias) y = np.add(y, np.reshape(bias, perChannel));
  return y;
}

/** Instance normalisation (Ulyanov et al. 2016): group normalisation with a group per channel. @category Layers */
export const instanceNorm = (x: Array, weight?: Array | null, bias?: Array | null, opts?: { eps?: number }): Array =>
  groupNorm(x, x.shape[1], weight, bias, opts);

/** Options of {@link dotProductAttention} (jax.nn.dot_product_attention's). @category Layers */
export interface AttentionOptions {
  /** Added to the logits `[B, N, T, S]` (broadcast). */
  bias?: Array | null;
  /** Boolean, broadcast to `[B, N, T, S]`: false positions are left out of the softmax. */
  mask?: Array | null;
  /** Query position t attends to key positions s <= t (with equal lengths: the causal mask). */
  isCausal?: boolean;
  /** The logits' scale; `1 / sqrt(headDim)` by default. */
  scale?: number;
}

/**
 * Scaled dot-product attention with jax.nn.dot_product_attention's layout: `query [B, T, N, H]`,
 * `key` and `value [B, S, K, H]` (a batch axis may be left out), `softmax(q k^T * scale + bias)`
 * over the key positions with masked ones left out, then times `value`: `[B, T, N, H]`.
 * Grouped-query attention: `N` may be a multiple of `K`, each key/value head serving `N / K` query
 * heads. Half-precision logits are taken through the softmax in float32. A query row with every key
 * masked out gives zeros.
 * @example const y = nn.functional.dotProductAttention(q, k, v, { isCausal: true });
 * @category Layers
 */
export function dotProductAttention(query: Array, key: Array, value: Array, opts?: AttentionOptions): Array {
  const o = checkOptions(
    'dotProductAttention',
    { bias: t.unknown, mask: t.unknown, isCausal: t.boolean, scale: t.number },
    opts,
  ) as AttentionOptions;
  const unbatched = query.ndim === 3;
  const [q, k, v] = unbatched ? [query, key, value].map((a) => np.expandDims(a, 0)) : [query, key, value];
  const shapes = `query ${fmtShape(query.shape)}, key ${fmtShape(key.shape)}, value ${fmtShape(value.shape)}`;
  if (![q, k, v].every((a) => a.ndim === 4) || k.shape.join() !== v.shape.join())
    throw new ShapeError(
      `dotProductAttention: expected [B, T, N, H] query and equal [B, S, K, H] key and value, got ${shapes}`,
    );
  const [b, tq, n, h] = q.shape;
  const [bk, s, kh, hk] = k.shape;
  if (b !== bk || h !== hk || n % kh !== 0)
    throw new ShapeError(
      `dotProductAttention: batch and head size must agree and query heads be a multiple of key heads, got ${shapes}`,
    );
  // Grouped queries: [B, T, K, N/K, H] against [B, S, K, H].
  const g = n / kh;
  const qg = np.reshape(q, [b, tq, kh, g, h]);
  const compute = (d: DType): DType => (d === 'float16' || d === 'bfloat16' ? 'float32' : d);
  let logits = np.einsum('btkgh,bskh->bkgts', qg, k);
  logits = np.multiply(np.astype(logits, compute(logits.dtype)), o.scale ?? 1 / Math.sqrt(h));
  const toGroups = (m: Array) => {
    // [B|1, N|1, T|1, S|1] -> [B|1, K|1, G|1, T|1, S|1]
    const full = np.reshape(m, [...new globalThis.Array(4 - m.ndim).fill(1), ...m.shape]);
    return full.shape[1] === 1
      ? np.expandDims(full, 2)
      : np.reshape(full, [full.shape[0], kh, g, ...full.shape.slice(2)]);
  };
  if (o.bias) logits = np.add(logits, toGroups(o.bias));
  let keep: Array | null = o.mask ? toGroups(o.mask) : null;
  if (keep && keep.dtype !== 'bool') throw new DTypeError(`dotProductAttention: mask must be bool, got ${keep.dtype}`);
  if (o.isCausal) {
    const causal = np.tri(tq, s, { dtype: 'bool' });
    keep = keep ? np.logicalAnd(keep, causal) : causal;
  }
  let weights: Array;
  if (keep) {
    const masked = np.where(keep, logits, -Infinity);
    const m = np.max(masked, { axis: -1, keepdims: true });
    const e = np.where(keep, np.exp(np.subtract(masked, np.stopGradient(np.where(np.isfinite(m), m, 0)))), 0);
    const total = np.sum(e, { axis: -1, keepdims: true });
    weights = np.divide(e, np.where(np.greater(total, 0), total, 1));
  } else weights = softmax(logits, -1);
  const out = np.einsum('bkgts,bskh->btkgh', np.astype(weights, v.dtype), v);
  const y = np.reshape(out, [b, tq, n, h]);
  return unbatched ? np.reshape(y, [tq, n, h]) : y;
}

/**
 * The sinusoidal position encodings of Vaswani et al. (2017), `[length, dim]`: `sin(p / base^(2i/dim))`
 * at even features `2i`, `cos` at odd ones.
 * @category Layers
 */
export function sinusoidalPositions(length: number, dim: number, opts?: { base?: number; dtype?: DType }): Array {
  const o = checkOptions('sinusoidalPositions', { base: t.number, dtype: codecs.dtype }, opts);
  if (!Number.isInteger(length) || length < 0 || !Number.isInteger(dim) || dim < 0)
    throw new ValueError(`sinusoidalPositions: length and dim must be non-negative integers, got ${length}, ${dim}`);
  const pos = np.reshape(np.arange(length, undefined, 1, { dtype: 'float64' }), [length, 1]);
  const feature = np.arange(dim, undefined, 1, { dtype: 'float64' });
  const even = np.multiply(np.floor(np.divide(feature, 2)), 2);
  const angle = np.divide(pos, np.power(o.base ?? 10000, np.divide(even, dim)));
  const enc = np.where(np.equal(np.remainder(feature, 2), 0), np.sin(angle), np.cos(angle));
  return np.astype(enc, o.dtype ?? 'float32');
}

/**
 * Rotary position embedding (Su et al. 2021) of `x [B, T, N, H]` (or `[T, N, H]`), in the
 * rotate-half convention of Hugging Face's LLaMA and GPT-NeoX: feature `i` of the first half pairs with
 * feature `i` of the second, rotated by `position * base^(-2i/H)`. `positions` default to `0..T-1`.
 * @category Layers
 */
export function rotaryEmbedding(x: Array, opts?: { positions?: Array; base?: number }): Array {
  const o = checkOptions('rotaryEmbedding', { positions: t.unknown, base: t.number }, opts) as {
    positions?: Array;
    base?: number;
  };
  const h = x.shape[x.ndim - 1],
    steps = x.shape[x.ndim - 3];
  if (x.ndim < 3 || h % 2 !== 0)
    throw new ShapeError(`rotaryEmbedding: expected [B, T, N, H] (or [T, N, H]) with even H, got ${fmtShape(x.shape)}`);
  const half = h / 2;
  const positions = np.astype(o.positions ?? np.arange(steps), 'float32');
  const inv = np.power(o.base ?? 10000, np.divide(np.arange(half, undefined, 1, { dtype: 'float32' }), -half));
  const angle = np.multiply(np.reshape(positions, [steps, 1, 1]), inv); // [T, 1, H/2]
  const [cos, sin] = [np.cos(angle), np.sin(angle)].map((a) => np.astype(a, x.dtype));
  const [x1, x2] = np.split(x, 2, { axis: -1 });
  return np.concatenate(
    [np.subtract(np.multiply(x1, cos), np.multiply(x2, sin)), np.add(np.multiply(x2, cos), np.multiply(x1, sin))],
    { axis: -1 },
  );
}

/** Inverted dropout: zero each element with probability `rate`, scale the rest by 1/(1-rate). @category Layers */
export function dropout(x: Array, rate: number, key: Array): Array {
  if (!(rate >= 0 && rate < 1)) throw new ValueError(`dropout: rate must be in [0, 1), got ${rate}`);
  if (rate === 0) return x;
  const keep = np.less(np.asarray(randomUniform(key, x.shape)), 1 - rate);
  return np.where(keep, np.divide(x, 1 - rate), 0);
}

// ---------------------------------------------------------------- losses

/** How a loss reduces over elements. @category Losses */
export type Reduction = 'mean' | 'sum' | 'none';
const reductionCodec = t.keyof({ mean: null, sum: null, none: null });
const reduce = (x: Array, r: Reduction | undefined) => (r === 'none' ? x : r === 'sum' ? np.sum(x) : np.mean(x));

/** Mean squared error `mean((pred - target)^2)`. @category Losses */
export function mse(pred: ArrayLike, target: ArrayLike, opts?: { reduction?: Reduction }): Array {
  const o = checkOptions('mse', { reduction: reductionCodec }, opts);
  return reduce(np.square(np.subtract(pred, target)), o.reduction);
}

/**
 * Softmax cross-entropy of `logits [..., C]` against integer labels `[...]` or probability
 * targets `[..., C]`, with optional label smoothing.
 * @category Losses
 */
export function softmaxCrossEntropy(
  logits: Array,
  labels: Array,
  opts?: { labelSmoothing?: number; reduction?: Reduction },
): Array {
  const o = checkOptions('softmaxCrossEntropy', { labelSmoothing: t.number, reduction: reductionCodec }, opts);
  const c = logits.shape[logits.ndim - 1];
  const s = o.labelSmoothing ?? 0;
  if (!(s >= 0 && s <= 1)) throw new ValueError(`softmaxCrossEntropy: labelSmoothing ${s} must be in [0, 1]`);
  let targets = labels;
  let valid: Array | null = null;
  if (labels.dtype === 'int32' || labels.dtype === 'uint32') {
    if (labels.shape.join() !== logits.shape.slice(0, -1).join())
      throw new ShapeError(
        `softmaxCrossEntropy: labels ${fmtShape(labels.shape)} must be logits' shape ${fmtShape(logits.shape)} ` +
          `without the class axis`,
      );
    // A label outside [0, classes) is an error when known, and a NaN loss for its example when traced:
    // never a silent 0.
    const known = labels.toConcrete();
    const bad = known ? globalThis.Array.from(known.buffer).find((l) => l < 0 || l >= c) : undefined;
    if (bad !== undefined)
      throw new ValueError(`softmaxCrossEntropy: label ${bad} is outside [0, ${c}) for ${c} classes`);
    if (!known) valid = np.logicalAnd(np.greaterEqual(labels, 0), np.less(labels, c));
    targets = np.equal(np.expandDims(labels, -1), np.arange(c)).astype('float32');
  } else if (labels.shape.join() !== logits.shape.join())
    throw new ShapeError(
      `softmaxCrossEntropy: targets ${fmtShape(labels.shape)} must match logits ${fmtShape(logits.shape)}`,
    );
  if (s) targets = np.add(np.multiply(targets, 1 - s), s / c);
  // Classes with no target weight add nothing, even where a logit is masked to -inf (0 * -inf would be NaN).
  const terms = np.where(np.equal(targets, 0), 0, np.multiply(targets, logSoftmax(logits)));
  let losses = np.negative(np.sum(terms, { axis: -1 }));
  if (valid) losses = np.where(valid, losses, NaN);
  return reduce(losses, o.reduction);
}

/** Negative log-likelihood of integer `labels` under `logProbs [..., C]`. @category Losses */
export function nll(logProbs: Array, labels: Array, opts?: { reduction?: Reduction }): Array {
  const o = checkOptions('nll', { reduction: reductionCodec }, opts);
  return reduce(
    np.negative(np.squeeze(np.takeAlongAxis(logProbs, np.expandDims(labels, -1), -1), { axis: -1 })),
    o.reduction,
  );
}

/** Binary cross-entropy on logits, `max(x,0) - x*t + log(1+e^-|x|)`, stable for large |x|. @category Losses */
export function binaryCrossEntropyWithLogits(
  logits: ArrayLike,
  targets: ArrayLike,
  opts?: { reduction?: Reduction },
): Array {
  const o = checkOptions('binaryCrossEntropyWithLogits', { reduction: reductionCodec }, opts);
  const loss = np.add(
    np.subtract(np.maximum(logits, 0), np.multiply(logits, targets)),
    np.log1p(np.exp(np.negative(np.abs(logits)))),
  );
  return reduce(loss, o.reduction);
}

/** Huber loss: quadratic within `delta` (default 1), linear beyond. @category Losses */
export function huber(pred: ArrayLike, target: ArrayLike, opts?: { delta?: number; reduction?: Reduction }): Array {
  const o = checkOptions('huber', { delta: t.number, reduction: reductionCodec }, opts);
  const d = o.delta ?? 1;
  const err = np.abs(np.subtract(pred, target));
  const quad = np.minimum(err, d);
  return reduce(np.add(np.multiply(np.square(quad), 0.5), np.multiply(np.subtract(err, quad), d)), o.reduction);
}

/** Fraction of rows whose argmax matches the integer label. @category Losses */
export const accuracy = (logits: Array, labels: Array): Array =>
  np.mean(np.equal(np.argmax(logits, { axis: -1 }), labels).astype('float32'));

// ---------------------------------------------------------------- recurrent (whole sequences, PyTorch weights)

/**
 * PyTorch-layout weights of one recurrent layer: `wIh [G*H, I]`, `wHh [G*H, H]`, biases `[G*H]`.
 * @category Recurrent
 */
export interface RnnWeights {
  wIh: Array;
  wHh: Array;
  bIh?: Array | null;
  bHh?: Array | null;
}
/** Gate pre-activations `x W_ih^T + b_ih` and `h W_hh^T + b_hh`, split into `g` blocks. */
const gates = (v: Array, g: number): Array[] => np.split(v, g, { axis: -1 });

/** One LSTM step (gate order i, f, g, o). */
export function lstmStep(w: RnnWeights, x: Array, h: Array, c: Array): [Array, Array] {
  const z = np.add(linear(x, w.wIh, w.bIh), linear(h, w.wHh, w.bHh));
  const [i, f, g, o] = gates(z, 4);
  const c2 = np.add(np.multiply(np.sigmoid(f), c), np.multiply(np.sigmoid(i), np.tanh(g)));
  return [np.multiply(np.sigmoid(o), np.tanh(c2)), c2];
}
/** One GRU step (gate order r, z, n; the reset gate multiplies the hidden projection including its bias). */
export function gruStep(w: RnnWeights, x: Array, h: Array): Array {
  const [xr, xz, xn] = gates(linear(x, w.wIh, w.bIh), 3);
  const [hr, hz, hn] = gates(linear(h, w.wHh, w.bHh), 3);
  const r = np.sigmoid(np.add(xr, hr));
  const zt = np.sigmoid(np.add(xz, hz));
  const n = np.tanh(np.add(xn, np.multiply(r, hn)));
  return np.add(np.multiply(np.subtract(1, zt), n), np.multiply(zt, h));
}
/** One Elman step with tanh. */
export const rnnTanhStep = (w: RnnWeights, x: Array, h: Array): Array =>
  np.tanh(np.add(linear(x, w.wIh, w.bIh), linear(h, w.wHh, w.bHh)));

const squeeze0 = (h: Array) => np.squeeze(h, { axis: 0 });
const seqMajor = (x: Array, batchFirst?: boolean) => (batchFirst ? np.swapaxes(x, 0, 1) : x);

/**
 * LSTM over a sequence `x [T, N, I]` (or `[N, T, I]` with batchFirst) from `h0, c0 [1, N, H]`, via
 * scan. @category Recurrent
 */
export function lstm(
  x: Array,
  h0: Array,
  c0: Array,
  w: RnnWeights,
  opts?: { batchFirst?: boolean },
): { output: Array; hN: Array; cN: Array } {
  const [[h, c], ys] = scan(
    ([h, c]: [Array, Array], xt: Array) => {
      const [h2, c2] = lstmStep(w, xt, h, c);
      return [[h2, c2] as [Array, Array], h2];
    },
    [squeeze0(h0), squeeze0(c0)] as [Array, Array],
    seqMajor(x, opts?.batchFirst),
  );
  return { output: seqMajor(ys, opts?.batchFirst), hN: np.expandDims(h, 0), cN: np.expandDims(c, 0) };
}
/** Runs a single-state step `h' = step(w, x_t, h)` over a sequence with scan. */
function runSingleState(
  step: (w: RnnWeights, x: Array, h: Array) => Array,
  x: Array,
  h0: Array,
  w: RnnWeights,
  opts?: { batchFirst?: boolean },
): { output: Array; hN: Array } {
  const [h, ys] = scan(
    (h: Array, xt: Array) => {
      const h2 = step(w, xt, h);
      return [h2, h2];
    },
    squeeze0(h0),
    seqMajor(x, opts?.batchFirst),
  );
  return { output: seqMajor(ys, opts?.batchFirst), hN: np.expandDims(h, 0) };
}
/** GRU over a sequence, as {@link lstm}. @category Recurrent */
export const gru = (
  x: Array,
  h0: Array,
  w: RnnWeights,
  opts?: { batchFirst?: boolean },
): { output: Array; hN: Array } => runSingleState(gruStep, x, h0, w, opts);
/** Elman RNN (tanh) over a sequence, as {@link lstm}. @category Recurrent */
export const rnn = (
  x: Array,
  h0: Array,
  w: RnnWeights,
  opts?: { batchFirst?: boolean },
): { output: Array; hN: Array } => runSingleState(rnnTanhStep, x, h0, w, opts);
