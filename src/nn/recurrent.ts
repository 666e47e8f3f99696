/**
 * Recurrent cells and the layer that runs a cell over time with `lax.scan` (so gradients are
 * backpropagation through time), plus the temporal convolution block of TCNs.
 * @module
 */
import { Array } from '../core/array.js';
import { ShapeError, fmtShape } from '../core/errors.js';
import { checkOptions, t } from '../core/options.js';
import { scan } from '../control/scan.js';
import { type Key, split } from '../random.js';
import * as np from '../np/index.js';
import * as tree from '../tree.js';
import * as F from './functional.js';
import { type RecurrentWeights, fusedRecurrence } from './fused.js';
import { torchDefault } from './init.js';
import { type Layer, identity, residual, serial } from './layer.js';
import { conv1d, relu } from './layers.js';

/**
 * A recurrent cell: `step(params, carry, x_t) -> [carry, h_t]` on `[N, I]` inputs.
 * @category Recurrent
 */
export interface Cell<P = any, C = any> {
  readonly name: string;
  readonly hiddenSize: number;
  init(key: Key, inputSize: number): P;
  initialCarry(batch: number): C;
  step(params: P, carry: C, x: Array): [C, Array];
  /** The ONNX operator the cell is, over a sequence (exports and the CPU path use it fused). */
  readonly onnx?: 'LSTM' | 'GRU' | 'RNN';
}

/** PyTorch-initialised weights for `gates` gate blocks. */
function gateWeights(key: Key, gates: number, inputSize: number, hidden: number) {
  const k = split(key, 4);
  const u = torchDefault(hidden);
  return {
    wIh: u(np.slice(k, 0), [gates * hidden, inputSize]),
    wHh: u(np.slice(k, 1), [gates * hidden, hidden]),
    bIh: u(np.slice(k, 2), [gates * hidden]),
    bHh: u(np.slice(k, 3), [gates * hidden]),
  };
}

/** A cell whose carry is its output `h`, with `gates` stacked PyTorch weight blocks. */
const singleStateCell =
  (name: string, onnx: 'GRU' | 'RNN', gates: number, step: (w: F.RnnWeights, x: Array, h: Array) => Array) =>
  (hiddenSize: number): Cell => ({
    name,
    onnx,
    hiddenSize,
    init: (key, i) => gateWeights(key, gates, i, hiddenSize),
    initialCarry: (n) => np.zeros([n, hiddenSize]),
    step: (p, h, x) => {
      const h2 = step(p, x, h);
      return [h2, h2];
    },
  });

/** Elman cell `h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`. @category Recurrent */
export const rnnCell: (hiddenSize: number) => Cell = singleStateCell('rnnCell', 'RNN', 1, F.rnnTanhStep);

/**
 * LSTM cell (Hochreiter & Schmidhuber 1997), gate order i, f, g, o as in PyTorch. With
 * `peephole` (Gers & Schmidhuber 2000) the input and forget gates also read c_{t-1} and the
 * output gate reads c_t, through diagonal weights `wCi, wCf, wCo [H]`.
 * @category Recurrent
 */
export function lstmCell(hiddenSize: number, opts?: { peephole?: boolean }): Cell {
  const o = checkOptions('lstmCell', { peephole: t.boolean }, opts);
  return {
    name: 'lstmCell',
    onnx: 'LSTM',
    hiddenSize,
    init(key, i) {
      const [k1, k2] = split(key, 2);
      const p: Record<string, Array> = gateWeights(k1, 4, i, hiddenSize);
      if (o.peephole) {
        const k = split(k2, 3),
          u = torchDefault(hiddenSize);
        Object.assign(p, {
          wCi: u(np.slice(k, 0), [hiddenSize]),
          wCf: u(np.slice(k, 1), [hiddenSize]),
          wCo: u(np.slice(k, 2), [hiddenSize]),
        });
      }
      return p;
    },
    initialCarry: (n) => [np.zeros([n, hiddenSize]), np.zeros([n, hiddenSize])],
    step(p, [h, c], x) {
      if (!o.peephole) {
        const [h2, c2] = F.lstmStep(p, x, h, c);
        return [[h2, c2], h2];
      }
      const z = np.add(F.linear(x, p.wIh, p.bIh), F.linear(h, p.wHh, p.bHh));
      const [zi, zf, zg, zo] = np.split(z, 4, { axis: -1 });
      const i = np.sigmoid(np.add(zi, np.multiply(p.wCi, c)));
      const f = np.sigmoid(np.add(zf, np.multiply(p.wCf, c)));
      const c2 = np.add(np.multiply(f, c), np.multiply(i, np.tanh(zg)));
      const out = np.sigmoid(np.add(zo, np.multiply(p.wCo, c2)));
      const h2 = np.multiply(out, np.tanh(c2));
      return [[h2, c2], h2];
    },
  };
}

/** GRU cell (Cho et al. 2014), gate order r, z, n as in PyTorch. @category Recurrent */
export const gruCell: (hiddenSize: number) => Cell = singleStateCell('gruCell', 'GRU', 3, F.gruStep);

/** Options of {@link rnn}. @category Recurrent */
export interface RnnOptions {
  /** Input `[N, T, I]` instead of `[T, N, I]`. */
  batchFirst?: boolean;
  /** Run a second cell backwards in time and concatenate features (output `[..., 2H]`). */
  bidirectional?: boolean;
  /** Return the whole sequence (default) or only the last step's output `[N, H(*2)]`. */
  returnSequences?: boolean;
  /** Also return the final carry: `y = [output, finalCarry]` (`[forward, backward]` carries when bidirectional). */
  returnState?: boolean;
}

/**
 * Runs a cell over a sequence with `lax.scan` (backpropagation through time under grad).
 * Input `[T, N, I]` (or batch first); the carry starts at zeros. The output is the sequence
 * of hidden states, or only the last step's with `returnSequences: false`.
 * @example serial(rnn(lstmCell(64), {batchFirst: true, returnSequences: false}), dense(10))
 * @category Recurrent
 */
export function rnn(cell: Cell, opts?: RnnOptions): Layer {
  const o = checkOptions(
    'rnn',
    { batchFirst: t.boolean, bidirectional: t.boolean, returnSequences: t.boolean, returnState: t.boolean },
    opts,
  );
  const scanned = (p: unknown, carry: unknown, xs: Array, reverse: boolean): [Array, unknown] => {
    const [final, ys] = scan((c: unknown, xt: Array) => cell.step(p, c, xt), carry, xs, { reverse });
    return [ys, final];
  };
  const run = (p: unknown, x: Array, reverse: boolean): [Array, unknown] => {
    const xs = o.batchFirst ? np.swapaxes(x, 0, 1) : x;
    // The zero state in the input's dtype (float64 or float16 sequences keep theirs).
    const carry = tree.map((c: Array) => np.astype(c, xs.dtype), cell.initialCarry(xs.shape[1]));
    if (!cell.onnx) return scanned(p, carry, xs, reverse);
    const [states, def] = tree.flatten<Array>(carry);
    const [ys, ...finals] = fusedRecurrence(
      cell.onnx,
      (xs, w, s) => {
        const [ys, final] = scanned(w, tree.unflatten(def, s), xs, reverse);
        return [ys, ...tree.leaves<Array>(final)];
      },
      xs,
      p as RecurrentWeights,
      states,
      reverse,
    );
    return [ys, tree.unflatten(def, finals)];
  };
  return {
    name: `rnn(${cell.name})`,
    init(key, inShape) {
      if (inShape.length !== 3)
        throw new ShapeError(`rnn: input must be [T, N, I] (or [N, T, I] with batchFirst), got ${fmtShape(inShape)}`);
      const [k1, k2] = split(key, 2);
      const i = inShape[2];
      const params = o.bidirectional
        ? { forward: cell.init(k1, i), backward: cell.init(k2, i) }
        : { forward: cell.init(k1, i) };
      const h = cell.hiddenSize * (o.bidirectional ? 2 : 1);
      const outShape = o.returnSequences === false ? [inShape[o.batchFirst ? 0 : 1], h] : [inShape[0], inShape[1], h];
      if (o.returnState) {
        const n = inShape[o.batchFirst ? 0 : 1];
        const carry = cell.initialCarry(n);
        const carryShapes =
          carry instanceof Array ? [...carry.shape] : tree.leaves<Array>(carry).map((c) => [...c.shape]);
        return {
          params,
          state: {},
          outShape: [outShape, o.bidirectional ? [carryShapes, carryShapes] : carryShapes] as unknown as number[],
        };
      }
      return { params, state: {}, outShape };
    },
    apply(params, state, x) {
      const [fwd, fCarry] = run(params.forward, x, false);
      const [bwd, bCarry] = o.bidirectional ? run(params.backward, x, true) : [null, null];
      let ys = bwd ? np.concatenate([fwd, bwd], { axis: -1 }) : fwd;
      if (o.returnSequences === false) {
        // Last step of the forward direction; for the backward direction its last step is t = 0.
        const last = np.slice(ys, ys.shape[0] - 1);
        ys = bwd
          ? np.concatenate(
              [np.slice(last, null, [0, cell.hiddenSize]), np.slice(np.slice(ys, 0), null, [cell.hiddenSize, null])],
              { axis: -1 },
            )
          : last;
      } else if (o.batchFirst) ys = np.swapaxes(ys, 0, 1);
      const finalState = bwd ? [fCarry, bCarry] : fCarry;
      return { y: o.returnState ? [ys, finalState] : ys, state };
    },
  };
}

/** A causal 1-d convolution: left padding `dilation*(k-1)` so step t sees only steps <= t. @category Recurrent */
export function causalConv1d(outChannels: number, kernelSize: number, dilation = 1): Layer {
  const inner = conv1d(outChannels, kernelSize, { dilation });
  const padLeft = (x: Array) =>
    np.pad(x, [
      [0, 0],
      [0, 0],
      [dilation * (kernelSize - 1), 0],
    ]);
  return {
    name: 'causalConv1d',
    window: { kernel: kernelSize, stride: 1, padding: dilation * (kernelSize - 1), dilation },
    init: (key, inShape) => inner.init(key, [inShape[0], inShape[1], inShape[2] + dilation * (kernelSize - 1)]),
    apply: (p, s, x) => inner.apply(p, s, padLeft(x)),
  };
}

/**
 * Temporal block of a TCN (Bai et al. 2018): two dilated causal convolutions with ReLU and
 * a residual connection (a 1x1 convolution when the channel count changes). Input `[N, C, T]`.
 * @category Recurrent
 */
export function temporalBlock(inChannels: number, outChannels: number, kernelSize: number, dilation: number): Layer {
  const body = serial(
    causalConv1d(outChannels, kernelSize, dilation),
    relu,
    causalConv1d(outChannels, kernelSize, dilation),
    relu,
  );
  return residual(body, inChannels === outChannels ? identity : conv1d(outChannels, 1));
}
