// Forward values and vector-Jacobian products of every op family against PyTorch (float64).
import { describe, expect, it } from 'vitest';
import { type Array, jit, np, vjp } from '../src/index.js';
import * as F from '../src/nn/functional.js';
import { assertClose, type Tolerance } from '../laws/index.js';
import { type GoldenCase, type Tensor, loadGolden, toArray as toArrayOf } from './golden.js';

type Outs = Record<string, Array>;
type Op = (x: Record<string, Array>, p: Record<string, any>) => Outs;
const out = (a: Array): Outs => ({ out: a });
const reduceOpts = (p: Record<string, any>) => ({ axis: p.dim ?? null, keepdims: p.keepdim ?? false });

const ops: Record<string, Op> = {
  relu: ({ x }) => out(F.relu(x)),
  leaky_relu: ({ x }, p) => out(F.leakyRelu(x, p.negative_slope)),
  elu: ({ x }, p) => out(F.elu(x, p.alpha)),
  sigmoid: ({ x }) => out(F.sigmoid(x)),
  tanh: ({ x }) => out(F.tanh(x)),
  gelu: ({ x }) => out(F.gelu(x, { approximate: 'none' })),
  gelu_tanh: ({ x }) => out(F.gelu(x, { approximate: 'tanh' })),
  softplus: ({ x }) => out(F.softplus(x)),
  exp: ({ x }) => out(np.exp(x)),
  log: ({ x }) => out(np.log(x)),
  sqrt: ({ x }) => out(np.sqrt(x)),
  pow: ({ x, y }) => out(np.power(x, y)),
  div: ({ x, y }) => out(np.divide(x, y)),
  maximum: ({ x, y }) => out(np.maximum(x, y)),
  add: ({ x, y }) => out(np.add(x, y)),
  mul: ({ x, y }) => out(np.multiply(x, y)),
  sum: ({ x }, p) => out(np.sum(x, reduceOpts(p))),
  mean: ({ x }, p) => out(np.mean(x, reduceOpts(p))),
  max: ({ x }, p) => {
    const o = reduceOpts(p);
    const r: Outs = { out: np.max(x, o) };
    if (typeof p.dim === 'number') r.indices = np.argmax(x, { axis: p.dim, keepdims: o.keepdims });
    return r;
  },
  logsumexp: ({ x }, p) => out(np.logsumexp(x, reduceOpts(p))),
  softmax: ({ x }, p) => out(F.softmax(x, p.dim)),
  log_softmax: ({ x }, p) => out(F.logSoftmax(x, p.dim)),
  matmul: ({ a, b }) => out(np.matmul(a, b)),
  matmul_batched: ({ a, b }) => out(np.matmul(a, b)),
  linear: ({ x, w, b }) => out(F.linear(x, w, b)),
  mse_loss: ({ input, target }) => out(F.mse(input, target)),
  cross_entropy: ({ logits, labels }) => out(F.softmaxCrossEntropy(logits, labels)),
  bce_with_logits: ({ logits, target }) => out(F.binaryCrossEntropyWithLogits(logits, target)),
  conv1d: ({ x, w, b }, p) =>
    out(F.conv1d(x, w, b, { stride: p.stride, padding: p.padding, dilation: p.dilation, groups: p.groups })),
  conv2d: ({ x, w, b }, p) =>
    out(F.conv2d(x, w, b, { stride: p.stride, padding: p.padding, dilation: p.dilation, groups: p.groups })),
  conv_transpose2d: ({ x, w, b }, p) =>
    out(
      F.convTranspose2d(x, w, b, {
        stride: p.stride,
        padding: p.padding,
        outputPadding: p.output_padding,
        groups: p.groups,
        dilation: p.dilation,
      }),
    ),
  max_pool2d: ({ x }, p) =>
    out(
      F.maxPool2d(x, {
        kernelSize: p.kernel_size,
        stride: p.stride,
        padding: p.padding,
        dilation: p.dilation,
        ceilMode: p.ceil_mode,
      }),
    ),
  avg_pool2d: ({ x }, p) =>
    out(
      F.avgPool2d(x, {
        kernelSize: p.kernel_size,
        stride: p.stride,
        padding: p.padding,
        ceilMode: p.ceil_mode,
        countIncludePad: p.count_include_pad,
      }),
    ),
  adaptive_avg_pool2d: ({ x }, p) => out(F.adaptiveAvgPool2d(x, p.output_size)),
  global_avg_pool2d: ({ x }) => out(F.globalAvgPool(x)),
  batch_norm: ({ x, running_mean, running_var, weight, bias }, p) => {
    const r = F.batchNorm(x, running_mean, running_var, weight, bias, {
      training: true,
      momentum: p.momentum,
      eps: p.eps,
    });
    const axes = x.shape.map((_, i) => i).filter((i) => i !== 1);
    return {
      out: r.y,
      running_mean: r.runningMean,
      running_var: r.runningVar,
      batch_mean: np.mean(x, { axis: axes }),
      batch_var: np.variance(x, { axis: axes }),
    };
  },
  batch_norm_eval: ({ x, running_mean, running_var, weight, bias }, p) =>
    out(F.batchNorm(x, running_mean, running_var, weight, bias, { training: false, eps: p.eps }).y),
  layer_norm: ({ x, weight, bias }, p) => out(F.layerNorm(x, p.normalized_shape, weight, bias, { eps: p.eps })),
  embedding: ({ indices, weight }) => out(F.embedding(indices, weight)),
  lstm: ({ x, h0, c0, w_ih, w_hh, b_ih, b_hh }) => {
    const r = F.lstm(x, h0, c0, { wIh: w_ih, wHh: w_hh, bIh: b_ih, bHh: b_hh });
    return { output: r.output, h_n: r.hN, c_n: r.cN };
  },
  gru: ({ x, h0, w_ih, w_hh, b_ih, b_hh }) => {
    const r = F.gru(x, h0, { wIh: w_ih, wHh: w_hh, bIh: b_ih, bHh: b_hh });
    return { output: r.output, h_n: r.hN };
  },
  rnn_tanh: ({ x, h0, w_ih, w_hh, b_ih, b_hh }) => {
    const r = F.rnn(x, h0, { wIh: w_ih, wHh: w_hh, bIh: b_ih, bHh: b_hh });
    return { output: r.output, h_n: r.hN };
  },
};

const tolerances: Record<string, [Tolerance, Tolerance]> = {
  default: [
    { rtol: 1e-4, atol: 1e-5 },
    { rtol: 1e-4, atol: 1e-5 },
  ],
  norm: [
    { rtol: 1e-4, atol: 1e-5 },
    { rtol: 1e-3, atol: 1e-4 },
  ],
  conv: [
    { rtol: 1e-4, atol: 1e-5 },
    { rtol: 1e-3, atol: 1e-4 },
  ],
  rnn: [
    { rtol: 1e-4, atol: 1e-5 },
    { rtol: 1e-3, atol: 1e-4 },
  ],
};

/** In float64 every family must agree with PyTorch's float64 values to 1e-9 relative. */
const float64Tolerance: Tolerance = { rtol: 1e-9, atol: 1e-12 };

/**
 * Runs a family's cases eagerly, or (`jitted`) with forward and backward passes each one jit call
 * (ONNX Runtime on the CPU), with float32 inputs or (`float`) float64 ones.
 */
export function runGoldenFamily(
  family: string,
  run = (c: GoldenCase, fn: () => void) => it(c.name, fn),
  jitted = false,
  float: 'float32' | 'float64' = 'float32',
): void {
  const [fwdTol, gradTol] =
    float === 'float64' ? [float64Tolerance, float64Tolerance] : (tolerances[family] ?? tolerances.default);
  const through = <F extends (...args: any[]) => any>(f: F): F => (jitted ? jit(f) : f);
  const toArray = (t: Tensor) => toArrayOf(t, float);
  describe(`golden ${family}${jitted ? ' (jit)' : ''}${float === 'float64' ? ' in float64' : ''}`, () => {
    for (const c of loadGolden(family)) {
      run(c, () => {
        const op = ops[c.op];
        expect(op, `no implementation mapped for golden op ${c.op}`).toBeDefined();
        const inputs = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, toArray(v)]));
        const outs = through((ins: Record<string, Array>) => op(ins, c.params ?? {}))(inputs);
        for (const [k, t] of Object.entries(c.outputs)) {
          if (t.dtype !== 'int64') expect(outs[k].dtype, `${c.name} output ${k}`).toBe(float);
          if (t.dtype === 'int64') expect(globalThis.Array.from(outs[k].dataSync())).toEqual(t.data);
          else assertClose(outs[k], t, fwdTol, `${c.name} output ${k}`);
        }
        const diffNames = Object.keys(c.grads ?? {});
        if (!diffNames.length) return;
        const ctNames = Object.keys(c.cotangents);
        const pullback = through((ins: Record<string, Array>, cts: Array[]) => {
          const [, back] = vjp(
            (...xs: Array[]) => {
              const all = { ...ins, ...Object.fromEntries(diffNames.map((k, i) => [k, xs[i]])) };
              const o = op(all, c.params ?? {});
              return ctNames.map((k) => o[k]);
            },
            ...diffNames.map((k) => ins[k]),
          );
          return back(cts as never) as Array[];
        });
        const grads = pullback(
          inputs,
          ctNames.map((k) => toArray(c.cotangents[k])),
        );
        diffNames.forEach((k, i) => assertClose(grads[i], c.grads[k], gradTol, `${c.name} grad ${k}`));
      });
    }
  });
}

const families = [
  'elementwise',
  'broadcast',
  'reduction',
  'linalg',
  'loss',
  'conv',
  'pool',
  'norm',
  'embedding',
  'rnn',
];
for (const family of families) runGoldenFamily(family);
// The same cases through jit: on the CPU that is the ONNX Runtime path (or the JavaScript one where it is absent).
for (const family of families) runGoldenFamily(family, undefined, true);
// float64 inputs, eager (the JavaScript kernels) and jitted (ONNX Runtime's double kernels, JavaScript where it has none).
for (const family of families) runGoldenFamily(family, undefined, false, 'float64');
for (const family of families) runGoldenFamily(family, undefined, true, 'float64');
