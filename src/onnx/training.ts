/**
 * The `ai.onnx.preview.training` operators: one optimizer step each over any number of tensors
 * (inputs `R`, `T`, then the tensors, their gradients and their optimizer states, each group in
 * order), as the ONNX spec defines them. The step count `T` and the rate `R` may be traced values,
 * so an imported training graph runs under `jit` too.
 * @module
 */
import type { Array } from '../core/array.js';
import { FluxionError } from '../core/errors.js';
import * as np from '../np/index.js';
import type { OpContext } from './ops.js';

type Op = (ins: (Array | undefined)[], ctx: OpContext) => (Array | undefined)[];

/** The per-tensor groups after `R` and `T`: `groups` lists of `n` tensors each. */
function split(ins: (Array | undefined)[], groups: number, ctx: OpContext): { r: Array; t: Array; g: Array[][] } {
  const rest = ins.slice(2);
  if (!ins[0] || !ins[1] || rest.length === 0 || rest.length % groups !== 0 || rest.some((x) => !x))
    throw new FluxionError(
      `${ctx.where}: expected R, T and ${groups} equal groups of tensors, got ${ins.length} inputs`,
    );
  const n = rest.length / groups;
  return {
    r: ins[0],
    t: ins[1],
    g: globalThis.Array.from({ length: groups }, (_, k) => rest.slice(k * n, (k + 1) * n) as Array[]),
  };
}

/** `x` in the dtype of `like` (R and T arrive as float and int64 scalars). */
const as = (x: Array, like: Array) => np.astype(x, like.dtype);

export const trainingOps: Record<string, Op> = {
  Adagrad: (ins, ctx) => {
    const {
      r,
      t,
      g: [xs, gs, hs],
    } = split(ins, 3, ctx);
    const decay = ctx.attrs.float('decay_factor', 0),
      eps = ctx.attrs.float('epsilon', 0),
      norm = ctx.attrs.float('norm_coefficient', 0);
    const steps = xs.map((x, i) => {
      const rate = np.divide(as(r, x), np.add(np.multiply(as(t, x), decay), 1));
      const g = np.add(np.multiply(x, norm), gs[i]);
      const h = np.add(hs[i], np.square(g));
      return [np.subtract(x, np.divide(np.multiply(rate, g), np.add(np.sqrt(h), eps))), h];
    });
    return [...steps.map((s) => s[0]), ...steps.map((s) => s[1])];
  },
  Momentum: (ins, ctx) => {
    const {
      r,
      t,
      g: [xs, gs, vs],
    } = split(ins, 3, ctx);
    const alpha = ctx.attrs.float('alpha'),
      beta = ctx.attrs.float('beta'),
      norm = ctx.attrs.float('norm_coefficient');
    const mode = ctx.attrs.string('mode');
    if (mode !== 'standard' && mode !== 'nesterov')
      throw new FluxionError(`${ctx.where}: mode must be 'standard' or 'nesterov', got '${mode}'`);
    const steps = xs.map((x, i) => {
      const g = np.add(np.multiply(x, norm), gs[i]);
      // The first step (T = 0) takes the whole gradient.
      const b = np.where(np.greater(as(t, x), 0), beta, 1);
      const v = np.add(np.multiply(vs[i], alpha), np.multiply(b, g));
      const direction = mode === 'standard' ? v : np.add(g, np.multiply(v, alpha));
      return [np.subtract(x, np.multiply(as(r, x), direction)), v];
    });
    return [...steps.map((s) => s[0]), ...steps.map((s) => s[1])];
  },
  Adam: (ins, ctx) => {
    const {
      r,
      t,
      g: [xs, gs, vs, hs],
    } = split(ins, 4, ctx);
    const alpha = ctx.attrs.float('alpha', 0.9),
      beta = ctx.attrs.float('beta', 0.999),
      eps = ctx.attrs.float('epsilon', 1e-6),
      norm = ctx.attrs.float('norm_coefficient', 0),
      post = ctx.attrs.float('norm_coefficient_post', 0);
    const steps = xs.map((x, i) => {
      const g = np.add(np.multiply(x, norm), gs[i]);
      const v = np.add(np.multiply(vs[i], alpha), np.multiply(g, 1 - alpha));
      const h = np.add(np.multiply(hs[i], beta), np.multiply(np.square(g), 1 - beta));
      // Bias correction from the first step on (T = 0 takes the rate as it is).
      const tx = as(t, x);
      const corrected = np.divide(np.sqrt(np.subtract(1, np.power(beta, tx))), np.subtract(1, np.power(alpha, tx)));
      const rate = np.where(np.greater(tx, 0), np.multiply(as(r, x), corrected), as(r, x));
      const stepped = np.subtract(x, np.multiply(rate, np.divide(v, np.add(np.sqrt(h), eps))));
      return [np.multiply(stepped, 1 - post), v, h];
    });
    return [0, 1, 2].flatMap((k) => steps.map((s) => s[k]));
  },
};
