/**
 * ONNX's random operators, drawn from a Fluxion key: the key given to the model's function
 * (`fn(params, ...inputs, { key })`) folded with the node's output name, so each node has its own
 * stream; without a key, the node's `seed` attribute (the same numbers on every call). The values
 * differ from ONNX Runtime's generator; the distributions are the spec's.
 * @module
 */
import type { Array } from '../core/array.js';
import { type DType, isFloat } from '../core/dtype.js';
import { FluxionError } from '../core/errors.js';
import * as np from '../np/index.js';
import * as random from '../random.js';
import type { OpContext } from './ops.js';
import { fluxionDType } from './types.js';

type Op = (ins: (Array | undefined)[], ctx: OpContext) => (Array | undefined)[];

/** The float dtype a node draws in: its `dtype` attribute, else `fallback`. */
function drawType(ctx: OpContext, fallback: DType): DType {
  const d = ctx.attrs.has('dtype') ? fluxionDType(ctx.attrs.int('dtype'), ctx.where) : fallback;
  if (!isFloat(d)) throw new FluxionError(`${ctx.where}: random values of type ${d} are not defined (a float type)`);
  return d;
}

const input = (ins: (Array | undefined)[], ctx: OpContext): Array => {
  if (!ins[0]) throw new FluxionError(`${ctx.where}: input 0 is required`);
  return ins[0];
};

const normal = (ctx: OpContext, shape: readonly number[], dtype: DType) =>
  np
    .add(
      np.multiply(random.normal(ctx.key(), shape, { dtype }), ctx.attrs.float('scale', 1)),
      ctx.attrs.float('mean', 0),
    )
    .astype(dtype);
const uniform = (ctx: OpContext, shape: readonly number[], dtype: DType) =>
  random
    .uniform(ctx.key(), shape, { dtype, minval: ctx.attrs.float('low', 0), maxval: ctx.attrs.float('high', 1) })
    .astype(dtype);

/** The random operators, by ONNX name. */
export const randomOps: Record<string, Op> = {
  RandomNormal: (_, ctx) => [normal(ctx, ctx.attrs.ints('shape'), drawType(ctx, 'float32'))],
  RandomNormalLike: (ins, ctx) => [normal(ctx, input(ins, ctx).shape, drawType(ctx, input(ins, ctx).dtype))],
  RandomUniform: (_, ctx) => [uniform(ctx, ctx.attrs.ints('shape'), drawType(ctx, 'float32'))],
  RandomUniformLike: (ins, ctx) => [uniform(ctx, input(ins, ctx).shape, drawType(ctx, input(ins, ctx).dtype))],
  Bernoulli(ins, ctx) {
    const p = input(ins, ctx);
    const dtype = ctx.attrs.has('dtype') ? fluxionDType(ctx.attrs.int('dtype'), ctx.where) : p.dtype;
    return [np.less(random.uniform(ctx.key(), p.shape), p).astype(dtype)];
  },
  Multinomial(ins, ctx) {
    const logits = input(ins, ctx);
    if (logits.ndim !== 2)
      throw new FluxionError(`${ctx.where}: input must be [batch, classes], got [${logits.shape.join(', ')}]`);
    const samples = ctx.attrs.int('sample_size', 1);
    const dtype = fluxionDType(ctx.attrs.int('dtype', 6), ctx.where);
    const [batch, classes] = logits.shape;
    const each = np.broadcastTo(np.expandDims(logits, 1), [batch, samples, classes]);
    return [random.categorical(ctx.key(), each).astype(dtype)];
  },
};
