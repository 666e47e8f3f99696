// The same PyTorch references through the layer objects (init, then PyTorch's weights put in
// place with PyTorch's layouts, then apply), so the layer API is checked, not only nn.functional.
import { describe, it, expect } from 'vitest';
import { type Array, nn, random, vjp } from '../src/index.js';
import { assertClose } from '../laws/index.js';
import { loadGolden, toArray, type GoldenCase } from './golden.js';

type Built = {
  layer: nn.Layer;
  params: (ins: Record<string, Array>) => any;
  state?: (ins: Record<string, Array>) => any;
  input: string;
  training?: boolean;
  diff: string[];
};
const key = random.key(0);
const pair = (v: number | number[]) => (typeof v === 'number' ? v : v);

const builders: Record<string, (c: GoldenCase) => Built | null> = {
  linear: (c) => ({
    layer: nn.dense(c.inputs.w.shape[0], { bias: !!c.inputs.b }),
    params: (i) => ({ weight: i.w, ...(i.b ? { bias: i.b } : {}) }),
    input: 'x',
    diff: ['x', 'w', 'b'],
  }),
  conv1d: (c) => ({
    layer: nn.conv1d(c.inputs.w.shape[0], c.inputs.w.shape[2], {
      stride: c.params.stride,
      padding: c.params.padding,
      dilation: c.params.dilation,
      groups: c.params.groups,
      bias: !!c.inputs.b,
    }),
    params: (i) => ({ weight: i.w, ...(i.b ? { bias: i.b } : {}) }),
    input: 'x',
    diff: ['x', 'w', 'b'],
  }),
  conv2d: (c) => ({
    layer: nn.conv2d(c.inputs.w.shape[0], c.inputs.w.shape.slice(2), {
      stride: pair(c.params.stride),
      padding: pair(c.params.padding),
      dilation: pair(c.params.dilation),
      groups: c.params.groups,
      bias: !!c.inputs.b,
    }),
    params: (i) => ({ weight: i.w, ...(i.b ? { bias: i.b } : {}) }),
    input: 'x',
    diff: ['x', 'w', 'b'],
  }),
  conv_transpose2d: (c) => ({
    layer: nn.convTranspose2d(c.inputs.w.shape[1] * c.params.groups, c.inputs.w.shape.slice(2), {
      stride: c.params.stride,
      padding: c.params.padding,
      outputPadding: c.params.output_padding,
      groups: c.params.groups,
      dilation: c.params.dilation,
      bias: !!c.inputs.b,
    }),
    params: (i) => ({ weight: i.w, ...(i.b ? { bias: i.b } : {}) }),
    input: 'x',
    diff: ['x', 'w', 'b'],
  }),
  max_pool2d: (c) => ({
    layer: nn.maxPool2d(c.params.kernel_size, {
      stride: c.params.stride,
      padding: c.params.padding,
      dilation: c.params.dilation,
      ceilMode: c.params.ceil_mode,
    }),
    params: () => ({}),
    input: 'x',
    diff: ['x'],
  }),
  avg_pool2d: (c) => ({
    layer: nn.avgPool2d(c.params.kernel_size, {
      stride: c.params.stride,
      padding: c.params.padding,
      ceilMode: c.params.ceil_mode,
      countIncludePad: c.params.count_include_pad,
    }),
    params: () => ({}),
    input: 'x',
    diff: ['x'],
  }),
  adaptive_avg_pool2d: (c) => ({
    layer: nn.adaptiveAvgPool2d(c.params.output_size),
    params: () => ({}),
    input: 'x',
    diff: ['x'],
  }),
  global_avg_pool2d: () => ({ layer: nn.globalAvgPool, params: () => ({}), input: 'x', diff: ['x'] }),
  batch_norm: (c) => ({
    layer: nn.batchNorm({ momentum: c.params.momentum, eps: c.params.eps }),
    params: (i) => ({ weight: i.weight, bias: i.bias }),
    state: (i) => ({ running_mean: i.running_mean, running_var: i.running_var }),
    input: 'x',
    training: true,
    diff: ['x', 'weight', 'bias'],
  }),
  batch_norm_eval: (c) => ({
    layer: nn.batchNorm({ eps: c.params.eps }),
    params: (i) => ({ weight: i.weight, bias: i.bias }),
    state: (i) => ({ running_mean: i.running_mean, running_var: i.running_var }),
    input: 'x',
    training: false,
    diff: ['x', 'weight', 'bias'],
  }),
  layer_norm: (c) => ({
    layer: nn.layerNorm({ dims: c.params.normalized_shape.length, eps: c.params.eps }),
    params: (i) => ({ weight: i.weight, bias: i.bias }),
    input: 'x',
    diff: ['x', 'weight', 'bias'],
  }),
  embedding: (c) => ({
    layer: nn.embedding(c.inputs.weight.shape[0], c.inputs.weight.shape[1]),
    params: (i) => ({ weight: i.weight }),
    input: 'indices',
    diff: ['weight'],
  }),
};

for (const family of ['linalg', 'conv', 'pool', 'norm', 'embedding']) {
  describe(`golden ${family} through layers`, () => {
    for (const c of loadGolden(family)) {
      const build = builders[c.op];
      if (!build) continue; // matmul etc. have no layer
      it(c.name, () => {
        const b = build(c)!;
        const inputs = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, toArray(v)]));
        const init = b.layer.init(key, inputs[b.input].shape as number[]);
        expect(init.outShape).toEqual(c.outputs.out.shape);
        const state = b.state ? b.state(inputs) : init.state;
        const gradTol = ['conv', 'norm'].includes(family) ? { rtol: 1e-3, atol: 1e-4 } : { rtol: 1e-4, atol: 1e-5 };
        const diff = b.diff.filter((k) => c.grads?.[k]);
        const run = (...xs: Array[]) => {
          const all = { ...inputs, ...Object.fromEntries(diff.map((k, i) => [k, xs[i]])) };
          return [b.layer.apply(b.params(all), state, all[b.input], { training: b.training ?? false }).y as Array];
        };
        const [out, back] = vjp(run, ...diff.map((k) => inputs[k]));
        assertClose(out[0], c.outputs.out, { rtol: 1e-4, atol: 1e-5 }, `${c.name} out`);
        if (c.outputs.running_mean) {
          // Batch norm's state comes out updated with PyTorch's rule (unbiased variance).
          const next = b.layer.apply(b.params(inputs), state, inputs[b.input], { training: true }).state;
          assertClose(next.running_mean, c.outputs.running_mean, { rtol: 1e-4, atol: 1e-5 }, `${c.name} running_mean`);
          assertClose(next.running_var, c.outputs.running_var, { rtol: 1e-4, atol: 1e-5 }, `${c.name} running_var`);
        }
        if (c.cotangents?.out) {
          const grads = back([toArray(c.cotangents.out)] as never) as Array[];
          diff.forEach((k, i) => assertClose(grads[i], c.grads[k], gradTol, `${c.name} grad ${k}`));
        }
      });
    }
  });
}
