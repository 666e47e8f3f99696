/**
 * Mixed precision for optimizers: float32 master weights for lower-precision parameters, and
 * dynamic loss scaling for float16 (as DeepMind's jmp): scale the loss, unscale the gradients,
 * skip steps whose gradients are not finite, and grow or shrink the scale.
 * @module
 */
import type { Array } from '../core/array.js';
import { type DType, isHalf } from '../core/dtype.js';
import { ValueError } from '../core/errors.js';
import { checkOptions, codecs, t } from '../core/options.js';
import * as np from '../np/index.js';
import * as tree from '../tree.js';
import type { GradientTransformation, Params } from './index.js';

/** State of {@link mixedPrecision}: the master copy of the parameters and the inner optimizer's state. @category Optimizers */
export interface MixedPrecisionState<S> {
  master: Params;
  inner: S;
}

const widen = (p: Params, to: DType) => tree.map((x: Array) => (isHalf(x.dtype) ? np.astype(x, to) : x), p);

/**
 * Runs `inner` on a float32 master copy of the float16/bfloat16 parameters: gradients are widened,
 * the inner optimizer updates the master weights (so small steps are not lost to rounding), and
 * the updates returned move each parameter to its master weight rounded to the parameter's dtype
 * (within a unit in its last place; the master copy keeps the precision). Other leaves pass through.
 * @example const opt = optim.mixedPrecision(optim.adam(1e-3)); // params in bfloat16, Adam in float32
 * @category Optimizers
 */
export function mixedPrecision<S>(
  inner: GradientTransformation<S>,
  opts: { masterDtype?: DType } = {},
): GradientTransformation<MixedPrecisionState<S>> {
  const o = checkOptions('mixedPrecision', { masterDtype: codecs.dtype }, opts);
  const masterDtype = o.masterDtype ?? 'float32';
  if (masterDtype !== 'float32' && masterDtype !== 'float64')
    throw new ValueError(`mixedPrecision: masterDtype must be float32 or float64, got ${masterDtype}`);
  return {
    init: (params) => {
      const master = widen(params, masterDtype);
      return { master, inner: inner.init(master) };
    },
    update(grads, state, params) {
      if (params === undefined) throw new ValueError('mixedPrecision: update needs the params');
      const r = inner.update(widen(grads, masterDtype), state.inner, state.master);
      const master = tree.map((m: Array, u: Array) => np.add(m, u), state.master, r.updates);
      const updates = tree.map(
        (m: Array, p: Array) => np.astype(np.subtract(m, np.astype(p, m.dtype)), p.dtype),
        master,
        params,
      );
      return { updates, state: { master, inner: r.state } };
    },
  };
}

/** State of a {@link dynamicLossScale}: the current scale and the finite steps since it last changed. @category Optimizers */
export interface LossScaleState {
  scale: Array;
  counter: Array;
}

/** Options of {@link dynamicLossScale} (jmp's names and defaults). @category Optimizers */
export interface LossScaleOptions {
  /** The first scale (2^15). */
  initial?: number;
  /** Finite steps before the scale grows (2000). */
  period?: number;
  /** What the scale is multiplied or divided by (2). */
  factor?: number;
  /** The scale never drops below this (1). */
  minScale?: number;
}

/** A dynamic loss scale: pure functions of its state, usable inside `jit`. @category Optimizers */
export interface DynamicLossScale {
  init(): LossScaleState;
  /** The loss times the scale (taken before `grad`, so small float16 gradients do not flush to zero). */
  scale(state: LossScaleState, loss: Array): Array;
  /** Gradients divided by the scale, float16/bfloat16 ones widened to float32 first. */
  unscale(state: LossScaleState, grads: Params): Params;
  /** The next state: shrink after a non-finite step, grow after `period` finite ones. */
  adjust(state: LossScaleState, finite: Array): LossScaleState;
}

/**
 * Dynamic loss scaling for float16 training (Micikevicius et al. 2018; jmp.DynamicLossScale).
 * @example
 * const ls = optim.dynamicLossScale();
 * const [, g] = valueAndGrad((p) => ls.scale(s.ls, loss(p)))(s.params);
 * const grads = ls.unscale(s.ls, g);
 * const finite = optim.allFinite(grads);
 * const { updates, state } = opt.update(grads, s.opt, s.params);
 * const next = optim.selectTree(finite, optim.applyUpdates(s.params, updates), s.params); // skip bad steps
 * const nextLs = ls.adjust(s.ls, finite);
 * @category Optimizers
 */
export function dynamicLossScale(opts: LossScaleOptions = {}): DynamicLossScale {
  const o = checkOptions(
    'dynamicLossScale',
    { initial: t.number, period: t.number, factor: t.number, minScale: t.number },
    opts,
  );
  const initial = o.initial ?? 2 ** 15,
    period = o.period ?? 2000,
    factor = o.factor ?? 2,
    minScale = o.minScale ?? 1;
  if (!(initial > 0 && period >= 1 && factor > 1 && minScale > 0))
    throw new ValueError(
      `dynamicLossScale: needs initial > 0, period >= 1, factor > 1 and minScale > 0 (got ${initial}, ${period}, ${factor}, ${minScale})`,
    );
  return {
    init: () => ({ scale: np.array(initial, { dtype: 'float32' }), counter: np.array(0, { dtype: 'int32' }) }),
    scale: (s, loss) => np.multiply(np.astype(loss, 'float32'), s.scale),
    unscale: (s, grads) =>
      tree.map(
        (g: Array) => np.divide(isHalf(g.dtype) ? np.astype(g, 'float32') : g, np.astype(s.scale, g.dtype)),
        grads,
      ),
    adjust(s, finite) {
      const grow = np.equal(np.add(s.counter, 1), period);
      const scale = np.where(
        finite,
        np.where(grow, np.multiply(s.scale, factor), s.scale),
        np.maximum(np.divide(s.scale, factor), minScale),
      );
      const counter = np.where(np.logicalAnd(finite, np.logicalNot(grow)), np.add(s.counter, 1), 0);
      return { scale, counter: np.astype(counter, 'int32') };
    },
  };
}

/** Whether every element of every leaf is finite (a bool scalar; integer leaves always are). @category Optimizers */
export const allFinite = (t_: Params): Array =>
  tree.leaves(t_).reduce((ok: Array, x: Array) => np.logicalAnd(ok, np.all(np.isfinite(x))), np.array(true));

/** `pred ? onTrue : onFalse` for whole trees, leaf by leaf (`pred` a bool scalar). @category Optimizers */
export const selectTree = <T>(pred: Array, onTrue: T, onFalse: T): T =>
  tree.map((a: Array, b: Array) => np.where(pred, a, b), onTrue, onFalse) as T;
