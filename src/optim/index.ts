/**
 * `optim`: optax-style gradient transformations. Each is a pure pair
 * `{init(params) -> state, update(grads, state, params) -> {updates, state}}`; `chain`
 * composes them and `applyUpdates` adds the updates to the parameters. The aliases
 * (`sgd`, `adam`, ...) are chains of the building blocks and follow PyTorch's update rules.
 * @module
 */
import type { Array, ArrayLike } from '../core/array.js';
import { ValueError } from '../core/errors.js';
import { checkOptions, t } from '../core/options.js';
import * as np from '../np/index.js';
import * as tree from '../tree.js';
import { mapElementwise } from './partition.js';
import { mapLeaves } from './foreach.js';

/** A pytree of arrays (parameters, gradients, updates). @category Optimizers */
export type Params = any;

/** An optimizer building block. @category Optimizers */
export interface GradientTransformation<S = any> {
  init(params: Params): S;
  update(grads: Params, state: S, params?: Params): { updates: Params; state: S };
}

/**
 * The state of a {@link chain} (and of the aliases built from one): one state per link, in order.
 * @category Optimizers
 */
export type ChainState = readonly unknown[];

/** A learning rate or any scalar hyperparameter that may depend on the step count (0-based). @category Schedules */
export type Schedule = (count: Array) => Array;
/** A number or a schedule. @category Schedules */
export type ScalarOrSchedule = number | Schedule;

const zerosLikeTree = (p: Params) => tree.map((x: Array) => np.zerosLike(x), p);
const count0 = () => np.array(0, { dtype: 'int32' });
const value = (v: ScalarOrSchedule, count: Array): ArrayLike => (typeof v === 'number' ? v : v(count));

// ---------------------------------------------------------------- combinators

/**
 * Applies transformations in order; the state is the list of their states.
 * @example const opt = chain(clipByGlobalNorm(1), scaleByAdam(), scaleByLearningRate(1e-3));
 * @category Optimizers
 */
export function chain(...ts: GradientTransformation[]): GradientTransformation<ChainState> {
  return {
    init: (params) => ts.map((t) => t.init(params)),
    update(grads, state, params) {
      let updates = grads;
      const next = ts.map((t, i) => {
        const r = t.update(updates, state[i], params);
        updates = r.updates;
        return r.state;
      });
      return { updates, state: next };
    },
  };
}

/** `params + updates`, leaf by leaf, each in its parameter's dtype (as optax's apply_updates). @category Optimizers */
export const applyUpdates = (params: Params, updates: Params): Params =>
  mapLeaves('applyUpdates', (p, u) => np.astype(np.add(p, u), p.dtype), params, updates);

/** The identity transformation (the unit of chain). @category Optimizers */
export const identity = (): GradientTransformation<{}> => ({
  init: () => ({}),
  update: (g, s) => ({ updates: g, state: s }),
});

// ---------------------------------------------------------------- building blocks

/** `u = -lr * g` (lr may be a schedule of the step count). @category Optimizers */
export function scaleByLearningRate(lr: ScalarOrSchedule): GradientTransformation<{ count: Array }> {
  return {
    init: () => ({ count: count0() }),
    update: (g, s) => {
      // A number stays weakly typed, so float64 params step by the exact rate.
      const step = typeof lr === 'number' ? -lr : np.negative(lr(s.count));
      const updates = mapLeaves('scaleByLearningRate', (x) => np.multiply(x, step), g);
      return { updates, state: { count: np.add(s.count, 1) } };
    },
  };
}
/** `u = s * g`. @category Optimizers */
export const scale = (s: number): GradientTransformation<{}> => ({
  init: () => ({}),
  update: (g, st) => ({ updates: mapLeaves('scale', (x) => np.multiply(x, s), g), state: st }),
});

/**
 * Momentum (Polyak 1964; Sutskever et al. 2013 for Nesterov): `t = decay*t + g`;
 * the update is `t`, or `g + decay*t` with nesterov. Matches PyTorch SGD (dampening 0).
 * @category Optimizers
 */
export function trace(opts: { decay: number; nesterov?: boolean }): GradientTransformation<{ trace: Params }> {
  const o = checkOptions('trace', { decay: t.number, nesterov: t.boolean }, opts);
  const decay = o.decay ?? 0.9;
  return {
    init: (p) => ({ trace: zerosLikeTree(p) }),
    update(g, s) {
      const tr = mapLeaves('trace', (b, x) => np.add(np.multiply(b, decay), x), s.trace, g);
      const updates = o.nesterov ? mapLeaves('trace', (x, b) => np.add(x, np.multiply(b, decay)), g, tr) : tr;
      return { updates, state: { trace: tr } };
    },
  };
}

/** State of {@link scaleByAdam}. @category Optimizers */
export interface ScaleByAdamState {
  count: Array;
  mu: Params;
  nu: Params;
}
/**
 * Adam's rescaling (Kingma & Ba 2015): `m = b1 m + (1-b1) g`, `v = b2 v + (1-b2) g^2`,
 * `u = m̂ / (sqrt(v̂) + eps)` with bias-corrected m̂, v̂.
 * @category Optimizers
 */
export function scaleByAdam(
  opts: { b1?: number; b2?: number; eps?: number; nesterov?: boolean } = {},
): GradientTransformation<ScaleByAdamState> {
  const o = checkOptions('scaleByAdam', { b1: t.number, b2: t.number, eps: t.number, nesterov: t.boolean }, opts);
  const b1 = o.b1 ?? 0.9,
    b2 = o.b2 ?? 0.999,
    eps = o.eps ?? 1e-8;
  return {
    init: (p) => ({ count: count0(), mu: zerosLikeTree(p), nu: zerosLikeTree(p) }),
    update(g, s) {
      const count = np.add(s.count, 1);
      // 1 - b^t as -expm1(t log b): 1 - 0.999^t computed directly would lose digits. Computed in
      // float64 for float64 parameters (they lose nothing to them), else in float32, which WebGPU has.
      const wide = tree.leaves<Array>(g).some((x) => x.dtype === 'float64') ? 'float64' : 'float32';
      const correction = (b: number, n: Array) => np.negative(np.expm1(np.multiply(np.astype(n, wide), Math.log(b))));
      const c1 = correction(b1, count),
        c2 = correction(b2, count),
        c1Next = correction(b1, np.add(count, 1));
      const as = (c: Array, like: Array) => np.astype(c, like.dtype);
      // m̂ / (sqrt(v̂) + eps) = m (√c2 / c1) / (sqrt(v) + eps √c2): the corrections fold into scalars,
      // so this takes four passes over each parameter, not five (ResNet-18: ~3 ms a pass).
      const r2 = np.sqrt(c2);
      const scaled = (c: Array, factor: number) => np.divide(np.multiply(r2, factor), c);
      const [mu, nu, updates] = mapElementwise(
        (m: Array, v: Array, x: Array) => {
          const m1 = np.add(np.multiply(m, b1), np.multiply(x, 1 - b1));
          const v1 = np.add(np.multiply(v, b2), np.multiply(np.square(x), 1 - b2));
          // Nesterov (Dozat 2016, optax's nadam): the next step's momentum, with the gradient's share corrected now.
          const mHat = o.nesterov
            ? np.add(np.multiply(m1, as(scaled(c1Next, b1), m1)), np.multiply(x, as(scaled(c1, 1 - b1), m1)))
            : np.multiply(m1, as(scaled(c1, 1), m1));
          return [m1, v1, np.divide(mHat, np.add(np.sqrt(v1), as(np.multiply(r2, eps), v1)))];
        },
        [s.mu, s.nu, g],
        3,
      );
      return { updates, state: { count, mu, nu } };
    },
  };
}

/**
 * RMSprop's rescaling (Tieleman & Hinton 2012), as PyTorch: `v = decay v + (1-decay) g^2`,
 * `u = g / (sqrt(v) + eps)`; centered subtracts the squared running mean of g inside the root.
 * @category Optimizers
 */
export function scaleByRms(
  opts: { decay?: number; eps?: number; centered?: boolean } = {},
): GradientTransformation<{ nu: Params; mu?: Params }> {
  const o = checkOptions('scaleByRms', { decay: t.number, eps: t.number, centered: t.boolean }, opts);
  const decay = o.decay ?? 0.99,
    eps = o.eps ?? 1e-8;
  return {
    init: (p) => (o.centered ? { nu: zerosLikeTree(p), mu: zerosLikeTree(p) } : { nu: zerosLikeTree(p) }),
    update(g, s) {
      const nu = tree.map(
        (v: Array, x: Array) => np.add(np.multiply(v, decay), np.multiply(np.square(x), 1 - decay)),
        s.nu,
        g,
      );
      const mu = o.centered
        ? tree.map((m: Array, x: Array) => np.add(np.multiply(m, decay), np.multiply(x, 1 - decay)), s.mu, g)
        : undefined;
      const denom = o.centered
        ? tree.map((v: Array, m: Array) => np.add(np.sqrt(np.subtract(v, np.square(m))), eps), nu, mu)
        : tree.map((v: Array) => np.add(np.sqrt(v), eps), nu);
      return {
        updates: tree.map((x: Array, d: Array) => np.divide(x, d), g, denom),
        state: o.centered ? { nu, mu } : { nu },
      };
    },
  };
}

/** Adagrad's rescaling (Duchi et al. 2011): `s += g^2`, `u = g / (sqrt(s) + eps)`. @category Optimizers */
export function scaleByAdagrad(
  opts: { initialAccumulatorValue?: number; eps?: number } = {},
): GradientTransformation<{ sum: Params }> {
  const o = checkOptions('scaleByAdagrad', { initialAccumulatorValue: t.number, eps: t.number }, opts);
  return {
    init: (p) => ({ sum: tree.map((x: Array) => np.fullLike(x, o.initialAccumulatorValue ?? 0), p) }),
    update(g, s) {
      const sum = tree.map((a: Array, x: Array) => np.add(a, np.square(x)), s.sum, g);
      return {
        updates: tree.map((x: Array, a: Array) => np.divide(x, np.add(np.sqrt(a), o.eps ?? 1e-10)), g, sum),
        state: { sum },
      };
    },
  };
}

/**
 * Adds `weightDecay * params` to the updates (L2 before a rescaling, decoupled after it: AdamW).
 * @category Optimizers
 */
export function addDecayedWeights(weightDecay: number): GradientTransformation<{}> {
  return {
    init: () => ({}),
    update(g, s, params) {
      if (params === undefined) throw new ValueError('addDecayedWeights: update needs the params');
      const updates = mapLeaves('addDecayedWeights', (x, p) => np.add(x, np.multiply(p, weightDecay)), g, params);
      return { updates, state: s };
    },
  };
}

/** The L2 norm of all leaves together (optax's `global_norm`). @category Optimizers */
export const globalNorm = (t_: Params): Array =>
  np.sqrt(tree.leaves(t_).reduce((acc: Array, x: Array) => np.add(acc, np.sum(np.square(x))), np.array(0)));

/** Rescales all gradients so their global L2 norm is at most `maxNorm` (Pascanu et al. 2013). @category Optimizers */
export function clipByGlobalNorm(maxNorm: number): GradientTransformation<{}> {
  return {
    init: () => ({}),
    update(g, s) {
      const norm = globalNorm(g);
      const factor = np.divide(maxNorm, np.maximum(norm, maxNorm));
      return { updates: mapLeaves('clipByGlobalNorm', (x) => np.multiply(x, factor), g), state: s };
    },
  };
}
/** Clips each gradient element into `[-maxDelta, maxDelta]`. @category Optimizers */
export const clip = (maxDelta: number): GradientTransformation<{}> => ({
  init: () => ({}),
  update: (g, s) => ({ updates: tree.map((x: Array) => np.clip(x, -maxDelta, maxDelta), g), state: s }),
});

/**
 * Lion's update (Chen et al. 2023, optax's `scale_by_lion`): `sign(b1 m + (1 - b1) g)`, then
 * `m = b2 m + (1 - b2) g`.
 * @category Optimizers
 */
export function scaleByLion(opts: { b1?: number; b2?: number } = {}): GradientTransformation<{ mu: Params }> {
  const o = checkOptions('scaleByLion', { b1: t.number, b2: t.number }, opts);
  const b1 = o.b1 ?? 0.9,
    b2 = o.b2 ?? 0.99;
  return {
    init: (p) => ({ mu: zerosLikeTree(p) }),
    update(g, s) {
      const mix = (b: number) => (m: Array, x: Array) => np.add(np.multiply(m, b), np.multiply(x, 1 - b));
      return {
        updates: tree.map((m: Array, x: Array) => np.sign(mix(b1)(m, x)), s.mu, g),
        state: { mu: tree.map(mix(b2), s.mu, g) },
      };
    },
  };
}

/**
 * Rectified Adam's rescaling (Liu et al. 2020, optax's `scale_by_radam`): Adam's step once the
 * variance estimate is tractable (its length `rho_t` past `threshold`), plain momentum before.
 * @category Optimizers
 */
export function scaleByRadam(
  opts: { b1?: number; b2?: number; eps?: number; threshold?: number } = {},
): GradientTransformation<ScaleByAdamState> {
  const o = checkOptions('scaleByRadam', { b1: t.number, b2: t.number, eps: t.number, threshold: t.number }, opts);
  const b1 = o.b1 ?? 0.9,
    b2 = o.b2 ?? 0.999,
    eps = o.eps ?? 1e-8,
    threshold = o.threshold ?? 5;
  const rhoInf = 2 / (1 - b2) - 1;
  return {
    init: (p) => ({ count: count0(), mu: zerosLikeTree(p), nu: zerosLikeTree(p) }),
    update(g, s) {
      const count = np.add(s.count, 1);
      const mu = tree.map((m: Array, x: Array) => np.add(np.multiply(m, b1), np.multiply(x, 1 - b1)), s.mu, g);
      const nu = tree.map(
        (v: Array, x: Array) => np.add(np.multiply(v, b2), np.multiply(np.square(x), 1 - b2)),
        s.nu,
        g,
      );
      // In float64 for float64 parameters, else in float32 (which WebGPU has).
      const wide = tree.leaves<Array>(g).some((x) => x.dtype === 'float64') ? 'float64' : 'float32';
      const b2t = np.power(b2, np.astype(count, wide));
      const rho = np.subtract(rhoInf, np.divide(np.multiply(np.multiply(count, 2), b2t), np.subtract(1, b2t)));
      const tractable = np.greaterEqual(rho, threshold);
      const safeRho = np.where(tractable, rho, threshold);
      const r = np.sqrt(
        np.divide(
          np.multiply(np.multiply(np.subtract(safeRho, 4), np.subtract(safeRho, 2)), rhoInf),
          np.multiply((rhoInf - 4) * (rhoInf - 2), safeRho),
        ),
      );
      const c1 = np.subtract(1, np.power(b1, np.astype(count, wide)));
      const updates = tree.map(
        (m: Array, v: Array) => {
          const [c1m, rm, c2m] = [c1, r, np.subtract(1, b2t)].map((c) => np.astype(c, m.dtype));
          const mHat = np.divide(m, c1m);
          const adaptive = np.divide(np.multiply(mHat, rm), np.add(np.sqrt(np.divide(v, c2m)), eps));
          return np.where(tractable, adaptive, mHat);
        },
        mu,
        nu,
      );
      return { updates, state: { count, mu, nu } };
    },
  };
}

/**
 * Scales each leaf's update by `||param|| / ||update||` (1 where either is zero): LAMB's layer-wise
 * trust ratio (You et al. 2020, optax's `scale_by_trust_ratio`).
 * @category Optimizers
 */
export function scaleByTrustRatio(): GradientTransformation<{}> {
  return {
    init: () => ({}),
    update(g, s, params) {
      if (params === undefined) throw new ValueError('scaleByTrustRatio: update needs the params');
      const norm = (x: Array) => np.sqrt(np.sum(np.square(x)));
      const updates = tree.map(
        (u: Array, p: Array) => {
          const [pn, un] = [norm(p), norm(u)];
          const ratio = np.where(np.logicalOr(np.equal(pn, 0), np.equal(un, 0)), 1, np.divide(pn, un));
          return np.multiply(u, ratio);
        },
        g,
        params,
      );
      return { updates, state: s };
    },
  };
}

/** Per-leaf second-moment estimates of {@link scaleByFactoredRms} (unused ones are `[1]` zeros, as optax keeps them). */
export interface FactoredRmsState {
  count: Array;
  vRow: Params;
  vCol: Params;
  v: Params;
}

/**
 * Adafactor's preconditioner (Shazeer & Stern 2018, optax's `scale_by_factored_rms`): a leaf
 * whose two largest axes are at least `minDimSizeToFactor` keeps row and column means of the
 * squared gradient (memory O(rows + columns)), others a full average; the decay rate grows as
 * `1 - (t + 1)^-decayRate`.
 * @category Optimizers
 */
export function scaleByFactoredRms(
  opts: {
    factored?: boolean;
    decayRate?: number;
    decayOffset?: number;
    minDimSizeToFactor?: number;
    eps?: number;
  } = {},
): GradientTransformation<FactoredRmsState> {
  const o = checkOptions(
    'scaleByFactoredRms',
    { factored: t.boolean, decayRate: t.number, decayOffset: t.number, minDimSizeToFactor: t.number, eps: t.number },
    opts,
  );
  const [decayRate, offset, minDim, eps] = [
    o.decayRate ?? 0.8,
    o.decayOffset ?? 0,
    o.minDimSizeToFactor ?? 128,
    o.eps ?? 1e-30,
  ];
  /** The axes [second largest, largest] of a leaf to factor over, or null (optax's `_factored_dims`). */
  const factoredDims = (shape: readonly number[]): [number, number] | null => {
    if (o.factored === false || shape.length < 2) return null;
    const sorted = shape.map((d, i) => [d, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const [[d1size, d1], [, d0]] = sorted.slice(-2);
    return d1size < minDim ? null : [d1, d0];
  };
  const without = (shape: readonly number[], axis: number) => shape.filter((_, i) => i !== axis);
  const unused = (x: Array) => np.zeros([1], { dtype: x.dtype });
  return {
    init: (p) => ({
      count: count0(),
      vRow: tree.map(
        (x: Array) =>
          factoredDims(x.shape) ? np.zeros(without(x.shape, factoredDims(x.shape)![1]), { dtype: x.dtype }) : unused(x),
        p,
      ),
      vCol: tree.map(
        (x: Array) =>
          factoredDims(x.shape) ? np.zeros(without(x.shape, factoredDims(x.shape)![0]), { dtype: x.dtype }) : unused(x),
        p,
      ),
      v: tree.map((x: Array) => (factoredDims(x.shape) ? unused(x) : np.zerosLike(x)), p),
    }),
    update(g, s) {
      const step = np.add(np.astype(np.subtract(s.count, offset), 'float32'), 1);
      const beta = np.subtract(1, np.power(step, -decayRate)); // the decay rate at this step
      const mix = (old: Array, fresh: Array) =>
        np.add(np.multiply(old, beta.astype(old.dtype)), np.multiply(fresh, np.subtract(1, beta).astype(old.dtype)));
      const [leaves, def] = tree.flatten<Array>(g);
      const [rows, cols, full] = [s.vRow, s.vCol, s.v].map((x) => tree.flatten<Array>(x)[0]);
      const results = leaves.map((grad, i) => {
        const sq = np.add(np.square(grad), eps);
        const dims = factoredDims(grad.shape);
        if (!dims) {
          const v = mix(full[i], sq);
          return { u: np.multiply(grad, np.rsqrt(v)), row: rows[i], col: cols[i], v };
        }
        const [d1, d0] = dims;
        const row = mix(rows[i], np.mean(sq, { axis: d0 }));
        const col = mix(cols[i], np.mean(sq, { axis: d1 }));
        const rowFactor = np.rsqrt(np.divide(row, np.mean(row, { axis: d1 > d0 ? d1 - 1 : d1, keepdims: true })));
        const u = np.multiply(np.multiply(grad, np.expandDims(rowFactor, d0)), np.expandDims(np.rsqrt(col), d1));
        return { u, row, col, v: full[i] };
      });
      const rebuild = (k: 'u' | 'row' | 'col' | 'v') =>
        tree.unflatten(
          def,
          results.map((r) => r[k]),
        );
      return {
        updates: rebuild('u'),
        state: { count: np.add(s.count, 1), vRow: rebuild('row'), vCol: rebuild('col'), v: rebuild('v') },
      };
    },
  };
}

/** An exponential moving average of the updates, not debiased (optax's `ema`): `m = decay*m + (1-decay)*u`. @category Optimizers */
export function ema(decay: number): GradientTransformation<{ ema: Params }> {
  return {
    init: (p) => ({ ema: zerosLikeTree(p) }),
    update(g, s) {
      const m = tree.map((a: Array, u: Array) => np.add(np.multiply(a, decay), np.multiply(u, 1 - decay)), s.ema, g);
      return { updates: m, state: { ema: m } };
    },
  };
}

/** Each leaf divided by `max(1, rms(leaf) / threshold)` (optax's `clip_by_block_rms`). @category Optimizers */
export const clipByBlockRms = (threshold: number): GradientTransformation<{}> => ({
  init: () => ({}),
  update: (g, s) => ({
    updates: tree.map(
      (u: Array) => np.divide(u, np.maximum(1, np.divide(np.sqrt(np.mean(np.square(u))), threshold))),
      g,
    ),
    state: s,
  }),
});

/** Each leaf times `max(rms(param), minScale)` (optax's `scale_by_param_block_rms`). @category Optimizers */
export const scaleByParamBlockRms = (minScale = 1e-3): GradientTransformation<{}> => ({
  init: () => ({}),
  update(g, s, params) {
    if (params === undefined) throw new ValueError('scaleByParamBlockRms: update needs the params');
    const updates = tree.map(
      (u: Array, p: Array) => np.multiply(u, np.maximum(np.sqrt(np.mean(np.square(p))), minScale).astype(u.dtype)),
      g,
      params,
    );
    return { updates, state: s };
  },
});

// ---------------------------------------------------------------- aliases

const maybe = (cond: boolean | undefined, t: () => GradientTransformation): GradientTransformation[] =>
  cond ? [t()] : [];

/**
 * Stochastic gradient descent with optional momentum, Nesterov momentum and (L2) weight
 * decay, as PyTorch's SGD: `g += wd p; b = m b + g; p -= lr (nesterov ? g + m b : b)`.
 * @example const opt = sgd(0.1, {momentum: 0.9});
 * @category Optimizers
 */
export function sgd(
  lr: ScalarOrSchedule,
  opts?: { momentum?: number; nesterov?: boolean; weightDecay?: number },
): GradientTransformation<ChainState> {
  const o = checkOptions('sgd', { momentum: t.number, nesterov: t.boolean, weightDecay: t.number }, opts);
  return chain(
    ...maybe(!!o.weightDecay, () => addDecayedWeights(o.weightDecay!)),
    ...maybe(!!o.momentum, () => trace({ decay: o.momentum!, nesterov: o.nesterov })),
    scaleByLearningRate(lr),
  );
}
/**
 * Adam (Kingma & Ba 2015), with optional L2 weight decay added to the gradient (PyTorch's Adam).
 * @category Optimizers
 */
export function adam(
  lr: ScalarOrSchedule = 1e-3,
  opts?: { b1?: number; b2?: number; eps?: number; weightDecay?: number },
): GradientTransformation<ChainState> {
  const o = checkOptions('adam', { b1: t.number, b2: t.number, eps: t.number, weightDecay: t.number }, opts);
  return chain(
    ...maybe(!!o.weightDecay, () => addDecayedWeights(o.weightDecay!)),
    scaleByAdam({ b1: o.b1, b2: o.b2, eps: o.eps }),
    scaleByLearningRate(lr),
  );
}
/** AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay (default 1e-2). @category Optimizers */
export function adamw(
  lr: ScalarOrSchedule = 1e-3,
  opts?: { b1?: number; b2?: number; eps?: number; weightDecay?: number },
): GradientTransformation<ChainState> {
  const o = checkOptions('adamw', { b1: t.number, b2: t.number, eps: t.number, weightDecay: t.number }, opts);
  return chain(
    scaleByAdam({ b1: o.b1, b2: o.b2, eps: o.eps }),
    addDecayedWeights(o.weightDecay ?? 1e-2),
    scaleByLearningRate(lr),
  );
}
/** NAdam (Dozat 2016) as optax's `nadam`: Adam with Nesterov momentum. @category Optimizers */
export function nadam(
  lr: ScalarOrSchedule = 1e-3,
  opts?: { b1?: number; b2?: number; eps?: number },
): GradientTransformation<ChainState> {
  const o = checkOptions('nadam', { b1: t.number, b2: t.number, eps: t.number }, opts);
  return chain(scaleByAdam({ ...o, nesterov: true }), scaleByLearningRate(lr));
}
/** RAdam (Liu et al. 2020) as optax's `radam`. @category Optimizers */
export function radam(
  lr: ScalarOrSchedule = 1e-3,
  opts?: { b1?: number; b2?: number; eps?: number; threshold?: number },
): GradientTransformation<ChainState> {
  const o = checkOptions('radam', { b1: t.number, b2: t.number, eps: t.number, threshold: t.number }, opts);
  return chain(scaleByRadam(o), scaleByLearningRate(lr));
}
/**
 * Adafactor (Shazeer & Stern 2018) as optax's `adafactor`: the factored preconditioner, updates
 * clipped to block RMS `clippingThreshold`, times the learning rate and (by default) each
 * parameter's RMS, optional momentum and decoupled weight decay.
 * @example const opt = optim.adafactor(1e-2); // memory per matrix: its rows plus its columns
 * @category Optimizers
 */
export function adafactor(
  lr: ScalarOrSchedule = 1e-2,
  opts?: {
    minDimSizeToFactor?: number;
    decayRate?: number;
    decayOffset?: number;
    multiplyByParameterScale?: boolean;
    clippingThreshold?: number | null;
    momentum?: number;
    weightDecayRate?: number;
    eps?: number;
    factored?: boolean;
  },
): GradientTransformation<ChainState> {
  const o = checkOptions(
    'adafactor',
    {
      minDimSizeToFactor: t.number,
      decayRate: t.number,
      decayOffset: t.number,
      multiplyByParameterScale: t.boolean,
      clippingThreshold: t.union([t.number, t.null]),
      momentum: t.number,
      weightDecayRate: t.number,
      eps: t.number,
      factored: t.boolean,
    },
    opts,
  );
  const clip = o.clippingThreshold === undefined ? 1 : o.clippingThreshold;
  return chain(
    scaleByFactoredRms({
      factored: o.factored,
      decayRate: o.decayRate,
      decayOffset: o.decayOffset,
      minDimSizeToFactor: o.minDimSizeToFactor,
      eps: o.eps,
    }),
    ...maybe(clip !== null, () => clipByBlockRms(clip!)),
    scaleByLearningRate(lr), // negates: the weight decay below is added with its sign flipped
    ...maybe(o.multiplyByParameterScale !== false, () => scaleByParamBlockRms()),
    ...maybe(o.momentum !== undefined, () => ema(o.momentum!)),
    ...maybe(!!o.weightDecayRate, () => addDecayedWeights(-o.weightDecayRate!)),
  );
}
/** Lion (Chen et al. 2023) as optax's `lion`: sign updates, decoupled weight decay (default 1e-3). @category Optimizers */
export function lion(
  lr: ScalarOrSchedule = 1e-4,
  opts?: { b1?: number; b2?: number; weightDecay?: number },
): GradientTransformation<ChainState> {
  const o = checkOptions('lion', { b1: t.number, b2: t.number, weightDecay: t.number }, opts);
  return chain(scaleByLion({ b1: o.b1, b2: o.b2 }), addDecayedWeights(o.weightDecay ?? 1e-3), scaleByLearningRate(lr));
}
/** LAMB (You et al. 2020) as optax's `lamb`: Adam, decoupled weight decay, then the layer-wise trust ratio. @category Optimizers */
export function lamb(
  lr: ScalarOrSchedule = 1e-3,
  opts?: { b1?: number; b2?: number; eps?: number; weightDecay?: number },
): GradientTransformation<ChainState> {
  const o = checkOptions('lamb', { b1: t.number, b2: t.number, eps: t.number, weightDecay: t.number }, opts);
  return chain(
    scaleByAdam({ b1: o.b1, b2: o.b2, eps: o.eps ?? 1e-6 }),
    addDecayedWeights(o.weightDecay ?? 0),
    scaleByTrustRatio(),
    scaleByLearningRate(lr),
  );
}
/**
 * RMSprop as in PyTorch (alpha 0.99, eps 1e-8 outside the root), with optional momentum and centering.
 * @category Optimizers
 */
export function rmsprop(
  lr: ScalarOrSchedule = 1e-2,
  opts?: { alpha?: number; eps?: number; momentum?: number; centered?: boolean; weightDecay?: number },
): GradientTransformation<ChainState> {
  const o = checkOptions(
    'rmsprop',
    { alpha: t.number, eps: t.number, momentum: t.number, centered: t.boolean, weightDecay: t.number },
    opts,
  );
  return chain(
    ...maybe(!!o.weightDecay, () => addDecayedWeights(o.weightDecay!)),
    scaleByRms({ decay: o.alpha, eps: o.eps, centered: o.centered }),
    ...maybe(!!o.momentum, () => trace({ decay: o.momentum! })),
    scaleByLearningRate(lr),
  );
}
/** Adagrad as in PyTorch: `lr / (1 + (t-1) lrDecay)` times `g / (sqrt(s) + eps)`. @category Optimizers */
export function adagrad(
  lr: ScalarOrSchedule = 1e-2,
  opts?: { lrDecay?: number; eps?: number; initialAccumulatorValue?: number; weightDecay?: number },
): GradientTransformation<ChainState> {
  const o = checkOptions(
    'adagrad',
    { lrDecay: t.number, eps: t.number, initialAccumulatorValue: t.number, weightDecay: t.number },
    opts,
  );
  const decayed: ScalarOrSchedule = o.lrDecay
    ? (c) => np.divide(value(lr, c), np.add(np.multiply(c, o.lrDecay!), 1))
    : lr;
  return chain(
    ...maybe(!!o.weightDecay, () => addDecayedWeights(o.weightDecay!)),
    scaleByAdagrad({ eps: o.eps, initialAccumulatorValue: o.initialAccumulatorValue }),
    scaleByLearningRate(decayed),
  );
}

// ---------------------------------------------------------------- schedules

/** A constant value. @category Schedules */
export const constantSchedule =
  (v: number): Schedule =>
  (c) =>
    np.fullLike(c, v, { dtype: 'float32' });
/** Alias of {@link constantSchedule} (optax's `constant_schedule`). @category Schedules */
export const constant = constantSchedule;
/** `init * scales[i]` products after each boundary step (as optax.piecewise_constant_schedule). @category Schedules */
export function piecewiseConstant(init: number, boundariesAndScales: Record<number, number>): Schedule {
  const entries = Object.entries(boundariesAndScales)
    .map(([b, s]) => [Number(b), s] as const)
    .sort((a, b) => a[0] - b[0]);
  return (c) =>
    entries.reduce(
      (v, [b, s]) => np.where(np.greaterEqual(c, b), np.multiply(v, s), v),
      np.fullLike(c, init, { dtype: 'float32' }),
    );
}
/** `init * rate^(count / transitionSteps)` (floored with staircase). @category Schedules */
export function exponentialDecay(
  init: number,
  transitionSteps: number,
  decayRate: number,
  opts?: { staircase?: boolean },
): Schedule {
  return (c) => {
    let p = np.divide(c, transitionSteps);
    if (opts?.staircase) p = np.floor(p);
    return np.multiply(init, np.power(decayRate, p));
  };
}
/** Cosine decay from `init` to `init * alpha` over `decaySteps` (Loshchilov & Hutter 2017). @category Schedules */
export const cosineDecay =
  (init: number, decaySteps: number, alpha = 0): Schedule =>
  (c) => {
    const frac = np.minimum(np.divide(c, decaySteps), 1);
    const cos = np.multiply(np.add(np.cos(np.multiply(frac, Math.PI)), 1), 0.5);
    return np.multiply(init, np.add(np.multiply(cos, 1 - alpha), alpha));
  };
/**
 * Linear warmup from `init` to `peak` over `warmupSteps`, then cosine decay to `end` by `decaySteps`.
 * @category Schedules
 */
export const warmupCosineDecay =
  (init: number, peak: number, warmupSteps: number, decaySteps: number, end = 0): Schedule =>
  (c) => {
    const warm = np.add(init, np.multiply(np.divide(c, Math.max(1, warmupSteps)), peak - init));
    const frac = np.clip(np.divide(np.subtract(c, warmupSteps), Math.max(1, decaySteps - warmupSteps)), 0, 1);
    const cos = np.add(end, np.multiply(np.multiply(np.add(np.cos(np.multiply(frac, Math.PI)), 1), 0.5), peak - end));
    return np.where(np.less(c, warmupSteps), warm, cos);
  };

/**
 * From `init` to `end` as `(init - end) (1 - c / transitionSteps)^power + end` over `transitionSteps`
 * steps starting at `transitionBegin` (optax's `polynomial_schedule`).
 * @category Schedules
 */
export function polynomial(
  init: number,
  end: number,
  power: number,
  transitionSteps: number,
  transitionBegin = 0,
): Schedule {
  if (!(transitionSteps > 0)) return constantSchedule(init);
  return (c) => {
    const k = np.clip(np.subtract(c, transitionBegin), 0, transitionSteps);
    const frac = np.subtract(1, np.divide(k, transitionSteps));
    return np.add(np.multiply(np.power(frac, power), init - end), end);
  };
}
/** Linear from `init` to `end` over `transitionSteps` steps from `transitionBegin` (optax's `linear_schedule`). @category Schedules */
export const linear = (init: number, end: number, transitionSteps: number, transitionBegin = 0): Schedule =>
  polynomial(init, end, 1, transitionSteps, transitionBegin);

/**
 * `schedules[i]` from `boundaries[i - 1]` on, each counting from its own start (optax's `join_schedules`).
 * @example optim.joinSchedules([optim.linear(0, 1e-3, 100), optim.cosineDecay(1e-3, 900)], [100])
 * @category Schedules
 */
export function joinSchedules(schedules: readonly Schedule[], boundaries: readonly number[]): Schedule {
  if (schedules.length !== boundaries.length + 1)
    throw new ValueError(
      `joinSchedules: ${schedules.length} schedules need ${schedules.length - 1} boundaries, got ${boundaries.length}`,
    );
  return (c) =>
    boundaries.reduce(
      (out, b, i) => np.where(np.less(c, b), out, schedules[i + 1](np.subtract(c, b))),
      np.asarray(schedules[0](c)),
    );
}

/**
 * One cycle (Smith & Topin 2018) as optax's `cosine_onecycle_schedule`: cosine from `peak / divFactor`
 * up to `peak` over the first `pctStart` of `transitionSteps`, then down to `peak / divFactor / finalDivFactor`.
 * @category Schedules
 */
export function oneCycle(
  transitionSteps: number,
  peak: number,
  opts?: { pctStart?: number; divFactor?: number; finalDivFactor?: number },
): Schedule {
  const o = checkOptions('oneCycle', { pctStart: t.number, divFactor: t.number, finalDivFactor: t.number }, opts);
  const init = peak / (o.divFactor ?? 25),
    final = init / (o.finalDivFactor ?? 1e4),
    warm = Math.floor((o.pctStart ?? 0.3) * transitionSteps);
  const cosine = (start: number, end: number, pct: Array) =>
    np.add(end, np.multiply(np.add(np.cos(np.multiply(pct, Math.PI)), 1), (start - end) / 2));
  return (c) => {
    const up = cosine(init, peak, np.clip(np.divide(c, Math.max(1, warm)), 0, 1));
    const down = cosine(
      peak,
      final,
      np.clip(np.divide(np.subtract(c, warm), Math.max(1, transitionSteps - warm)), 0, 1),
    );
    return np.where(np.less(c, warm), up, down);
  };
}

export * from './precision.js';
export * from './partition.js';
