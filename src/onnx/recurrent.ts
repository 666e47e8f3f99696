/**
 * ONNX's fused recurrent operators (LSTM, GRU, RNN) as `lax.scan` over time, so gradients flow
 * through imported recurrent models. Every attribute of the spec: directions, `layout`,
 * peepholes, `clip`, `activations` with their alpha/beta, `input_forget`,
 * `linear_before_reset`, `sequence_lens`, initial states and all outputs.
 * @module
 */
import type { Array } from '../core/array.js';
import { FluxionError } from '../core/errors.js';
import { scan } from '../control/scan.js';
import * as np from '../np/index.js';
import * as F from '../nn/functional.js';
import type { OpContext } from './ops.js';

type Activation = (x: Array) => Array;

/** The activation functions the spec names, with `alpha`/`beta` taken in order from the attribute lists. */
function activations(ctx: OpContext, defaults: string[], directions: number): Activation[] {
  const names = ctx.attrs.strings('activations', []);
  const list = names.length ? names : [...new globalThis.Array(directions)].flatMap(() => defaults);
  if (list.length !== defaults.length * directions)
    throw new FluxionError(`${ctx.where}: expects ${defaults.length * directions} activations, got ${list.length}`);
  const alphas = ctx.attrs.floats('activation_alpha', []),
    betas = ctx.attrs.floats('activation_beta', []);
  let ai = 0,
    bi = 0;
  const alpha = (d: number) => (ai < alphas.length ? alphas[ai++] : d);
  const beta = (d: number) => (bi < betas.length ? betas[bi++] : d);
  return list.map((name): Activation => {
    switch (name.toLowerCase()) {
      case 'sigmoid':
        return np.sigmoid;
      case 'tanh':
        return np.tanh;
      case 'relu':
        return (x) => np.maximum(x, 0);
      case 'affine': {
        const [a, b] = [alpha(1), beta(0)];
        return (x) => np.add(np.multiply(x, a), b);
      }
      case 'leakyrelu': {
        const a = alpha(0.01);
        return (x) => F.leakyRelu(x, a);
      }
      case 'thresholdedrelu': {
        const a = alpha(1);
        return (x) => np.where(np.greater(x, a), x, 0);
      }
      case 'scaledtanh': {
        const [a, b] = [alpha(1), beta(1)];
        return (x) => np.multiply(a, np.tanh(np.multiply(x, b)));
      }
      case 'hardsigmoid': {
        const [a, b] = [alpha(0.2), beta(0.5)];
        return (x) => np.clip(np.add(np.multiply(x, a), b), 0, 1);
      }
      case 'elu': {
        const a = alpha(1);
        return (x) => F.elu(x, a);
      }
      case 'softsign':
        return (x) => np.divide(x, np.add(np.abs(x), 1));
      case 'softplus':
        return F.softplus;
      default:
        throw new FluxionError(`${ctx.where}: activation '${name}' is not in the ONNX specification`);
    }
  });
}

/** One direction's weights: W and R per gate (`[hidden, in]`, `[hidden, hidden]`), biases, peepholes. */
interface Direction {
  W: Array[];
  R: Array[];
  Wb: Array[];
  Rb: Array[];
  P?: Array[];
  h0: Array;
  c0?: Array;
  reverse: boolean;
  acts: Activation[];
}

/** A cell step: the carried states and this step's input to the new states. */
type Cell = (d: Direction, states: Array[], x: Array) => Array[];

const gates = (x: Array, n: number, axis = 0) => np.split(x, n, { axis });
/** `x Wᵀ`. */
const lin = (x: Array, w: Array) => np.matmul(x, np.swapaxes(w, 0, 1));

/**
 * Runs a recurrent operator: reads the common inputs and attributes, scans each direction over time
 * (masking steps past `sequence_lens`), and lays the outputs out as `layout` says.
 */
function recurrent(
  ins: (Array | undefined)[],
  ctx: OpContext,
  spec: { gates: number; defaults: string[]; states: number; cell: Cell; peepholes?: boolean },
): (Array | undefined)[] {
  const X0 = ins[0],
    W = ins[1],
    R = ins[2];
  if (!X0 || !W || !R) throw new FluxionError(`${ctx.where}: X, W and R are required`);
  const direction = ctx.attrs.string('direction', 'forward');
  if (!['forward', 'reverse', 'bidirectional'].includes(direction))
    throw new FluxionError(`${ctx.where}: direction '${direction}' is not forward, reverse or bidirectional`);
  const dirs = direction === 'bidirectional' ? 2 : 1;
  const layout = ctx.attrs.int('layout', 0);
  const X = layout ? np.swapaxes(X0, 0, 1) : X0; // [seq, batch, input]
  const [seq, batch] = X.shape;
  const hidden = ctx.attrs.int('hidden_size', R.shape[R.ndim - 1]);
  const g = spec.gates;
  if (W.ndim !== 3 || W.shape[0] !== dirs || W.shape[1] !== g * hidden || R.shape[1] !== g * hidden)
    throw new FluxionError(
      `${ctx.where}: W [${W.shape}] and R [${R.shape}] do not fit ${dirs} direction(s) of ${g} gates of ${hidden}`,
    );
  const clip = ctx.attrs.has('clip') ? ctx.attrs.float('clip') : undefined;
  const acts = activations(ctx, spec.defaults, dirs);
  const B = ins[3] ?? np.zeros([dirs, 2 * g * hidden], { dtype: X.dtype });
  const lens = ins[4];
  const stateIn = (k: number) => {
    const s = ins[5 + k];
    if (!s) return np.zeros([dirs, batch, hidden], { dtype: X.dtype });
    return layout ? np.swapaxes(s, 0, 1) : s;
  };
  const P = spec.peepholes ? ins[7] : undefined;
  // Step t of sequence b is real when t < lens[b]: padding steps keep the state and output zeros.
  const valid = lens
    ? np.less(np.expandDims(np.arange(seq, undefined, 1, { dtype: 'int32' }), 1), np.astype(lens, 'int32'))
    : null;
  const ys: Array[] = [];
  const finals: Array[][] = [];
  for (let d = 0; d < dirs; d++) {
    const reverse = direction === 'reverse' || d === 1;
    const at = (a: Array) => np.take(a, d, { axis: 0 });
    const dir: Direction = {
      W: gates(at(W), g),
      R: gates(at(R), g),
      Wb: gates(np.slice(at(B), [0, g * hidden]), g),
      Rb: gates(np.slice(at(B), [g * hidden, 2 * g * hidden]), g),
      P: P ? gates(at(P), 3) : undefined,
      h0: at(stateIn(0)),
      c0: spec.states > 1 ? at(stateIn(1)) : undefined,
      reverse,
      acts: acts
        .slice(d * spec.defaults.length, (d + 1) * spec.defaults.length)
        .map((f) => (clip === undefined ? f : (x: Array) => f(np.clip(x, -clip, clip)))),
    };
    // A reverse pass reads each sequence backwards within its own length.
    const order = reverseOrder(seq, batch, lens, reverse);
    const xs = order ? np.takeAlongAxis(X, np.expandDims(order, -1), 0) : X;
    const mask = valid ? np.expandDims(valid, -1) : null; // [seq, batch, 1]
    const init = [dir.h0, ...(dir.c0 ? [dir.c0] : [])];
    const [final, hs] = scan(
      (states: Array[], step: Array[]) => {
        const [x, m] = step;
        const next = spec.cell(dir, states, x);
        const kept = m ? next.map((s, k) => np.where(m, s, states[k])) : next;
        return [kept, m ? np.where(m, kept[0], 0) : kept[0]];
      },
      init,
      [xs, ...(mask ? [mask] : [])],
    );
    ys.push(order ? np.takeAlongAxis(hs, np.expandDims(order, -1), 0) : hs);
    finals.push(final);
  }
  const Y = np.stack(ys, { axis: 1 }); // [seq, dirs, batch, hidden]
  const states = finals[0].map((_, k) => np.stack(finals.map((f) => f[k]))); // [dirs, batch, hidden]
  return [layout ? np.transpose(Y, [2, 0, 1, 3]) : Y, ...states.map((s) => (layout ? np.swapaxes(s, 0, 1) : s))];
}

/** For each time step and batch entry, the step a reverse pass reads (`len - 1 - t` inside the sequence). */
function reverseOrder(seq: number, batch: number, lens: Array | undefined, reverse: boolean): Array | null {
  if (!reverse) return null;
  const t = np.expandDims(np.arange(seq, undefined, 1, { dtype: 'int32' }), 1);
  const len = lens ? np.astype(lens, 'int32') : np.full([batch], seq, { dtype: 'int32' });
  return np.where(np.less(t, len), np.subtract(np.subtract(len, 1), t), np.broadcastTo(t, [seq, batch]));
}

const lstmCell =
  (inputForget: boolean): Cell =>
  (d, [h, c], x) => {
    const [f, g, hAct] = d.acts;
    const pre = (k: number) => np.add(np.add(lin(x, d.W[k]), lin(h, d.R[k])), np.add(d.Wb[k], d.Rb[k]));
    // Gate order i, o, f, c; peepholes i, o, f.
    const peep = (k: number, state: Array) => (d.P ? np.multiply(d.P[k], state) : 0);
    const i = f(np.add(pre(0), peep(0, c)));
    const forget = inputForget ? np.subtract(1, i) : f(np.add(pre(2), peep(2, c)));
    const cNew = np.add(np.multiply(forget, c), np.multiply(i, g(pre(3))));
    const o = f(np.add(pre(1), peep(1, cNew)));
    return [np.multiply(o, hAct(cNew)), cNew];
  };

const gruCell =
  (linearBeforeReset: boolean): Cell =>
  (d, [h], x) => {
    const [f, g] = d.acts;
    const z = f(np.add(np.add(lin(x, d.W[0]), lin(h, d.R[0])), np.add(d.Wb[0], d.Rb[0])));
    const r = f(np.add(np.add(lin(x, d.W[1]), lin(h, d.R[1])), np.add(d.Wb[1], d.Rb[1])));
    const recurrentPart = linearBeforeReset
      ? np.multiply(r, np.add(lin(h, d.R[2]), d.Rb[2]))
      : np.add(lin(np.multiply(r, h), d.R[2]), d.Rb[2]);
    const candidate = g(np.add(np.add(lin(x, d.W[2]), d.Wb[2]), recurrentPart));
    return [np.add(np.multiply(np.subtract(1, z), candidate), np.multiply(z, h))];
  };

const rnnCell: Cell = (d, [h], x) => [
  d.acts[0](np.add(np.add(lin(x, d.W[0]), lin(h, d.R[0])), np.add(d.Wb[0], d.Rb[0]))),
];

/** The recurrent operators, merged into the operator table of ops.ts. */
export const recurrentOps = {
  // input_forget couples the input and forget gates (f = 1 − i).
  LSTM: (ins: (Array | undefined)[], ctx: OpContext) =>
    recurrent(ins, ctx, {
      gates: 4,
      defaults: ['Sigmoid', 'Tanh', 'Tanh'],
      states: 2,
      cell: lstmCell(ctx.attrs.int('input_forget', 0) !== 0),
      peepholes: true,
    }),
  GRU: (ins: (Array | undefined)[], ctx: OpContext) =>
    recurrent(ins, ctx, {
      gates: 3,
      defaults: ['Sigmoid', 'Tanh'],
      states: 1,
      cell: gruCell(ctx.attrs.int('linear_before_reset', 0) !== 0),
    }),
  RNN: (ins: (Array | undefined)[], ctx: OpContext) =>
    recurrent(ins, ctx, { gates: 1, defaults: ['Tanh'], states: 1, cell: rnnCell }),
};
