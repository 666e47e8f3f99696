/**
 * ONNX `Resize` and `Upsample` as one mechanism: along each resized axis a static interpolation
 * matrix (output × input) built from the spec's coordinate transform and filter (nearest with
 * every `nearest_mode`, linear, cubic with `cubic_coeff_a` and `exclude_outside`, `antialias`),
 * applied as a contraction. Every mode is then differentiable, batchable and jittable, and
 * lowers to a MatMul in ONNX Runtime.
 * @module
 */
import type { Array } from '../core/array.js';
import { isFloat } from '../core/dtype.js';
import { FluxionError } from '../core/errors.js';
import * as np from '../np/index.js';
import type { OpContext } from './ops.js';

interface AxisResize {
  /** Input and output lengths, and the output length before rounding (I · scale when scales are given). */
  I: number;
  O: number;
  exact: number;
  /** The scale the coordinate transform divides by (given, or O / I). */
  scale: number;
  /** tf_crop_and_resize's region along this axis, as fractions of the input. */
  roi: [number, number];
}
interface Options {
  mode: string;
  transform: string;
  nearest: string;
  cubicA: number;
  excludeOutside: boolean;
  antialias: boolean;
  extrapolation: number;
}

/** The input coordinate of output position `o` (the spec's coordinate_transformation_mode). */
function sourceCoordinate(o: number, ax: AxisResize, opt: Options): number {
  const { I, O, scale, roi, exact } = ax;
  switch (opt.transform) {
    case 'half_pixel':
      return (o + 0.5) / scale - 0.5;
    case 'half_pixel_symmetric': {
      const adjustment = O / (scale * I);
      const center = I / 2;
      return center * (1 - adjustment) + (o + 0.5) / scale - 0.5;
    }
    case 'pytorch_half_pixel':
      return O > 1 ? (o + 0.5) / scale - 0.5 : 0;
    case 'align_corners':
      return exact === 1 ? 0 : (o * (I - 1)) / (exact - 1);
    case 'asymmetric':
      return o / scale;
    case 'tf_half_pixel_for_nn':
      return (o + 0.5) / scale;
    case 'tf_crop_and_resize':
      return O > 1 ? roi[0] * (I - 1) + (o * (roi[1] - roi[0]) * (I - 1)) / (O - 1) : 0.5 * (roi[0] + roi[1]) * (I - 1);
  }
  throw new FluxionError(`Resize: coordinate_transformation_mode '${opt.transform}' is not in the specification`);
}

function nearestIndex(x: number, mode: string): number {
  const frac = x - Math.floor(x);
  switch (mode) {
    case 'round_prefer_floor':
      return frac === 0.5 ? Math.floor(x) : Math.round(x);
    case 'round_prefer_ceil':
      return frac === 0.5 ? Math.ceil(x) : Math.round(x);
    case 'floor':
      return Math.floor(x);
    case 'ceil':
      return Math.ceil(x);
  }
  throw new FluxionError(`Resize: nearest_mode '${mode}' is not in the specification`);
}

/** The Keys cubic convolution kernel with parameter a. */
function cubic(t: number, a: number): number {
  const x = Math.abs(t);
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

/**
 * The interpolation matrix of one axis (row o: the weights of the inputs for output o) and which
 * outputs fall outside the input (tf_crop_and_resize extrapolates there).
 */
function axisMatrix(ax: AxisResize, opt: Options): { weights: Float64Array; outside: boolean[] } {
  const { I, O } = ax;
  const weights = new Float64Array(O * I);
  const outside: boolean[] = [];
  for (let o = 0; o < O; o++) {
    const x = sourceCoordinate(o, ax, opt);
    const out = opt.transform === 'tf_crop_and_resize' && (x < 0 || x > I - 1);
    outside.push(out);
    if (out) continue;
    const row = weights.subarray(o * I, (o + 1) * I);
    if (opt.mode === 'nearest') {
      row[Math.min(Math.max(nearestIndex(x, opt.nearest), 0), I - 1)] = 1;
      continue;
    }
    // Linear and cubic as filters; antialiasing stretches them by 1 / scale when downsampling.
    const stretch = opt.antialias && ax.scale < 1 ? ax.scale : 1;
    const kernel =
      opt.mode === 'linear' ? (t: number) => Math.max(0, 1 - Math.abs(t)) : (t: number) => cubic(t, opt.cubicA);
    const support = (opt.mode === 'linear' ? 1 : 2) / stretch;
    const xc = opt.mode === 'linear' && stretch === 1 ? Math.min(Math.max(x, 0), I - 1) : x;
    const lo = Math.floor(xc - support) + 1,
      hi = Math.ceil(xc + support) - 1;
    let total = 0;
    const taps: [number, number][] = [];
    for (let i = Math.min(lo, Math.floor(xc)); i <= Math.max(hi, Math.floor(xc) + 1); i++) {
      const w = kernel((i - xc) * stretch);
      if (w === 0) continue;
      const inside = i >= 0 && i < I;
      if (!inside && opt.excludeOutside) continue;
      taps.push([Math.min(Math.max(i, 0), I - 1), w]);
      total += w;
    }
    // Antialiased and outside-excluded filters are renormalised to sum to one, as the reference does.
    const norm = opt.excludeOutside || stretch !== 1 ? total : 1;
    for (const [i, w] of taps) row[i] += w / norm;
  }
  return { weights, outside };
}

/** Resizes `x` along the given axes. */
function resize(x: Array, axes: Map<number, AxisResize>, opt: Options): Array {
  const dtype = x.dtype;
  let y = isFloat(dtype) ? x : np.astype(x, 'float32');
  let mask: Array | null = null;
  for (const [axis, ax] of axes) {
    const { weights, outside } = axisMatrix(ax, opt);
    const m = np.array(weights, { shape: [ax.O, ax.I] }).astype(y.dtype);
    y = np.moveaxis(np.matmul(np.moveaxis(y, axis, -1), np.transpose(m)), -1, axis);
    if (outside.some(Boolean)) {
      const inside = np.array(
        outside.map((o) => !o),
        { shape: y.shape.map((d, k) => (k === axis ? d : 1)) },
      );
      mask = mask ? np.logicalAnd(mask, inside) : inside;
    }
  }
  if (mask) y = np.where(mask, y, opt.extrapolation);
  if (isFloat(dtype)) return y;
  return np.astype(np.round(np.clip(y, ...intRange(dtype))), dtype);
}
const intRange = (d: string): [number, number] =>
  d === 'uint8' ? [0, 255] : d === 'int8' ? [-128, 127] : d === 'uint16' ? [0, 65535] : [-(2 ** 31), 2 ** 31 - 1];

/** Concrete values of an optional input (an empty tensor counts as absent). */
function values(x: Array | undefined, ctx: OpContext, what: string): number[] | null {
  if (!x || x.size === 0) return null;
  const c = x.toConcrete();
  if (!c) throw new FluxionError(`${ctx.where}: ${what} must be a constant`);
  return globalThis.Array.from(c.buffer, Number);
}

export const resizeOps = {
  Resize: (ins: (Array | undefined)[], ctx: OpContext) => {
    const x = ins[0];
    if (!x) throw new FluxionError(`${ctx.where}: input X is required`);
    const r = x.ndim;
    // Opset 10: (X, scales) with Upsample's asymmetric coordinates; 11+: (X, roi, scales, sizes).
    const v10 = ctx.opset < 11;
    const roi = v10 ? null : values(ins[1], ctx, 'roi');
    const scales = values(v10 ? ins[1] : ins[2], ctx, 'scales');
    const sizes = v10 ? null : values(ins[3], ctx, 'sizes');
    const axesList = ctx.attrs.ints('axes', []).map((a) => (a < 0 ? a + r : a));
    const axes = axesList.length ? axesList : [...globalThis.Array(r).keys()];
    if (!scales === !sizes) throw new FluxionError(`${ctx.where}: exactly one of scales and sizes must be given`);
    const opt: Options = {
      mode: ctx.attrs.string('mode', 'nearest'),
      transform: v10 ? 'asymmetric' : ctx.attrs.string('coordinate_transformation_mode', 'half_pixel'),
      nearest: v10 ? 'floor' : ctx.attrs.string('nearest_mode', 'round_prefer_floor'),
      cubicA: ctx.attrs.float('cubic_coeff_a', -0.75),
      excludeOutside: ctx.attrs.int('exclude_outside', 0) !== 0,
      antialias: ctx.attrs.int('antialias', 0) !== 0,
      extrapolation: ctx.attrs.float('extrapolation_value', 0),
    };
    if (!['nearest', 'linear', 'cubic'].includes(opt.mode))
      throw new FluxionError(`${ctx.where}: mode '${opt.mode}' is not nearest, linear or cubic`);
    const given = (scales ?? sizes)!;
    if (given.length !== axes.length)
      throw new FluxionError(
        `${ctx.where}: ${scales ? 'scales' : 'sizes'} has ${given.length} values for ${axes.length} axes`,
      );
    // keep_aspect_ratio_policy: one scale for all the axes when sizes are given.
    const policy = ctx.attrs.string('keep_aspect_ratio_policy', 'stretch');
    let sizeScale: number | null = null;
    if (sizes && policy !== 'stretch') {
      const ratios = axes.map((a, k) => sizes[k] / x.shape[a]);
      sizeScale = policy === 'not_larger' ? Math.min(...ratios) : Math.max(...ratios);
    }
    const plan = new Map<number, AxisResize>();
    axes.forEach((a, k) => {
      const I = x.shape[a];
      const at = axesList.length ? k : a;
      const region: [number, number] = roi ? [roi[at], roi[at + roi.length / 2]] : [0, 1];
      let O: number, scale: number;
      if (scales) {
        scale = scales[k];
        if (!(scale > 0)) throw new FluxionError(`${ctx.where}: scale ${scale} must be positive`);
        const span = opt.transform === 'tf_crop_and_resize' ? region[1] - region[0] : 1;
        O = Math.floor(I * span * scale);
      } else {
        O = sizeScale !== null ? Math.round(I * sizeScale) : sizes![k];
        scale = sizeScale ?? O / I;
      }
      const exact = scales && opt.transform !== 'tf_crop_and_resize' ? I * scale : O;
      if (O !== I || opt.transform === 'tf_crop_and_resize' || scale !== 1)
        plan.set(a, { I, O, exact, scale, roi: region });
    });
    return [resize(x, plan, opt)];
  },
  // Upsample (deprecated): Resize's opset-10 form with scales for every axis.
  Upsample: (ins: (Array | undefined)[], ctx: OpContext) => {
    const x = ins[0];
    if (!x) throw new FluxionError(`${ctx.where}: input X is required`);
    const scales = ctx.opset >= 9 ? values(ins[1], ctx, 'scales') : ctx.attrs.floats('scales');
    if (!scales || scales.length !== x.ndim) throw new FluxionError(`${ctx.where}: needs one scale per axis`);
    const mode = ctx.attrs.string('mode', 'nearest');
    const plan = new Map<number, AxisResize>();
    scales.forEach((s, a) => {
      const I = x.shape[a];
      if (s !== 1) plan.set(a, { I, O: Math.floor(I * s), exact: I * s, scale: s, roi: [0, 1] });
    });
    const opt: Options = {
      mode: mode === 'bilinear' ? 'linear' : mode,
      transform: 'asymmetric',
      nearest: 'floor',
      cubicA: -0.75,
      excludeOutside: false,
      antialias: false,
      extrapolation: 0,
    };
    return [resize(x, plan, opt)];
  },
};
