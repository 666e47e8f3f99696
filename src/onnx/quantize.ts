/**
 * ONNX's quantization operators on the int8/uint8 dtypes: QuantizeLinear and DequantizeLinear
 * (per tensor, per axis, blocked), DynamicQuantizeLinear, MatMulInteger, ConvInteger,
 * QLinearMatMul and QLinearConv. Integer products are computed exactly in float64 (every
 * int8/uint8 product sum of a realistic size is an exact float64 integer), rounding half to even
 * and saturating into the output dtype as the spec says.
 * @module
 */
import type { Array } from '../core/array.js';
import { type DType, intRange } from '../core/dtype.js';
import { FluxionError } from '../core/errors.js';
import * as np from '../np/index.js';
import type { OpContext } from './ops.js';

type Op = (ins: (Array | undefined)[], ctx: OpContext) => (Array | undefined)[];
const need = (ins: (Array | undefined)[], i: number, ctx: OpContext): Array => {
  const x = ins[i];
  if (!x) throw new FluxionError(`${ctx.where}: input ${i} is required`);
  return x;
};

/**
 * A scale or zero point shaped to broadcast against `x`: a scalar as it is, a 1-D one along `axis`
 * (per axis), or one of `x`'s rank with `axis` in blocks of `blockSize` (blocked).
 */
function along(p: Array, x: Array, axis: number, blockSize: number, ctx: OpContext): Array {
  if (p.ndim === 0 || p.size === 1) return np.reshape(p, []);
  const ax = axis < 0 ? axis + x.ndim : axis;
  if (blockSize > 0) {
    if (p.ndim !== x.ndim) throw new FluxionError(`${ctx.where}: blocked quantization needs a scale of x's rank`);
    return np.take(np.repeat(p, blockSize, { axis: ax }), np.arange(x.shape[ax]).astype('int32'), { axis: ax });
  }
  if (p.ndim !== 1 || p.shape[0] !== x.shape[ax])
    throw new FluxionError(
      `${ctx.where}: a per-axis scale of shape [${p.shape}] does not fit axis ${ax} of [${x.shape}]`,
    );
  return np.reshape(
    p,
    x.shape.map((d, i) => (i === ax ? d : 1)),
  );
}

/** `round(v)` (half to even) saturated into `dtype`. */
function saturate(v: Array, dtype: DType): Array {
  const [lo, hi] = intRange(dtype);
  return np.astype(np.clip(np.round(v), lo, hi), dtype);
}
const f64 = (x: Array) => np.astype(x, 'float64');
/** `x − zero point` exactly, in float64 (a missing zero point is 0). */
const centered = (x: Array, zp: Array | undefined, shape?: (p: Array) => Array) =>
  zp ? np.subtract(f64(x), f64(shape ? shape(zp) : zp)) : f64(x);

const quantizeLinear: Op = (ins, ctx) => {
  const x = need(ins, 0, ctx);
  const axis = ctx.attrs.int('axis', 1),
    block = ctx.attrs.int('block_size', 0);
  const scale = along(need(ins, 1, ctx), x, axis, block, ctx);
  const zp = ins[2];
  const dtype: DType = zp?.dtype ?? 'uint8';
  if (dtype !== 'uint8' && dtype !== 'int8' && dtype !== 'uint16' && dtype !== 'int16')
    throw new FluxionError(`${ctx.where}: quantizing to ${dtype} is not supported (int8, uint8, int16, uint16)`);
  // x / scale in x's own float dtype, as the spec's reference: its rounding decides ties.
  const q = np.divide(x, np.astype(scale, x.dtype));
  return [saturate(zp ? np.add(np.round(q), np.astype(along(zp, x, axis, block, ctx), q.dtype)) : q, dtype)];
};

const dequantizeLinear: Op = (ins, ctx) => {
  const x = need(ins, 0, ctx);
  const axis = ctx.attrs.int('axis', 1),
    block = ctx.attrs.int('block_size', 0);
  const scale = need(ins, 1, ctx);
  const y = np.multiply(
    centered(x, ins[2], (p) => along(p, x, axis, block, ctx)),
    f64(along(scale, x, axis, block, ctx)),
  );
  return [np.astype(y, scale.dtype)];
};

const dynamicQuantizeLinear: Op = (ins, ctx) => {
  // In float32 throughout, as the spec's reference (its rounding decides ties).
  const x = np.astype(need(ins, 0, ctx), 'float32');
  // The range always includes 0, so that 0 is exactly representable.
  const hi = np.maximum(np.max(x), 0),
    lo = np.minimum(np.min(x), 0);
  const scale = np.divide(np.subtract(hi, lo), 255);
  const zp = saturate(np.negative(np.divide(lo, scale)), 'uint8');
  const y = saturate(np.add(np.round(np.divide(x, scale)), np.astype(zp, 'float32')), 'uint8');
  return [y, scale, zp];
};

/** Per-row (A) or per-column (B) zero points of a matrix product shaped to broadcast. */
const rowPoint = (p: Array) => (p.ndim === 1 && p.size > 1 ? np.expandDims(p, -1) : p);

const matMulInteger: Op = (ins, ctx) => {
  const [a, b] = [need(ins, 0, ctx), need(ins, 1, ctx)];
  const y = np.matmul(centered(a, ins[2], rowPoint), centered(b, ins[3]));
  return [np.astype(y, 'int32')];
};

/** The model's Conv on float64 operands (its attributes: pads, strides, dilations, group). */
const convOf = (x: Array, w: Array, bias: Array | undefined, ctx: OpContext, conv: Op) =>
  conv([x, w, bias], ctx)[0] as Array;
/** A per-output-channel weight parameter shaped [C, 1, 1, ...] (a scalar as it is). */
const perChannel = (p: Array, w: Array) =>
  p.ndim === 1 && p.size > 1 ? np.reshape(p, [p.size, ...w.shape.slice(1).map(() => 1)]) : p;

export const quantizeOps = (conv: Op): Record<string, Op> => ({
  QuantizeLinear: quantizeLinear,
  DequantizeLinear: dequantizeLinear,
  DynamicQuantizeLinear: dynamicQuantizeLinear,
  MatMulInteger: matMulInteger,
  ConvInteger: (ins, ctx) => {
    const [x, w] = [need(ins, 0, ctx), need(ins, 1, ctx)];
    const y = convOf(
      centered(x, ins[2]),
      centered(w, ins[3], (p) => perChannel(p, w)),
      undefined,
      ctx,
      conv,
    );
    return [np.astype(y, 'int32')];
  },
  QLinearMatMul: (ins, ctx) => {
    const [a, as, azp, b, bs, bzp, ys, yzp] = ins;
    if (!a || !as || !b || !bs || !ys || !yzp) throw new FluxionError(`${ctx.where}: all eight inputs are required`);
    const real = np.matmul(
      np.multiply(centered(a, azp, rowPoint), f64(rowPoint(as))),
      np.multiply(centered(b, bzp), f64(bs)),
    );
    return [saturate(np.add(np.round(np.divide(real, f64(ys))), f64(yzp)), yzp.dtype)];
  },
  QLinearConv: (ins, ctx) => {
    const [x, xs, xzp, w, ws, wzp, ys, yzp, bias] = ins;
    if (!x || !xs || !w || !ws || !ys || !yzp)
      throw new FluxionError(`${ctx.where}: inputs x, w and the scales are required`);
    const wf = np.multiply(
      centered(w, wzp, (p) => perChannel(p, w)),
      f64(perChannel(ws, w)),
    );
    // The bias is int32 at scale x_scale · w_scale.
    const b = bias ? np.multiply(f64(bias), np.reshape(np.multiply(f64(xs), f64(ws)), [-1])) : undefined;
    const real = convOf(np.multiply(centered(x, xzp), f64(xs)), wf, b, ctx, conv);
    return [saturate(np.add(np.round(np.divide(real, f64(ys))), f64(yzp)), yzp.dtype)];
  },
});
