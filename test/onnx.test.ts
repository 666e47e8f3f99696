// The CPU graph backend on ONNX Runtime: every lowered primitive against its JavaScript kernel,
// convolution rewrites, exported models read back by onnxruntime-node's public API, and the
// JavaScript fallback where ONNX Runtime is switched off.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fromBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import {
  type Array,
  ConcreteArray,
  customJvp,
  executionPlan,
  grad,
  jit,
  lax,
  makeGraph,
  models,
  nn,
  np,
  onnx,
  optim,
  random,
  setCompilationCache,
  tree,
  valueAndGrad,
  vmap,
} from '../src/index.js';
import { onnxBackend } from '../src/backend/onnx.js';
import { keepFreedMemory } from '../src/backend/malloc.js';
import { Graph } from '../src/core/ir.js';
import type { ConvOptions } from '../src/nn/functional.js';
import type { UnfoldParams } from '../src/primitives/index.js';
import { makeClosedGraph } from '../src/transforms/jit.js';
import { bind } from '../src/core/trace.js';
import { interpret } from '../src/core/staging.js';
import { linearizeFlat } from '../src/transforms/grad.js';
import { ModelProtoSchema } from '../src/onnx/generated/onnx_pb.js';
import { assertClose, gradMatchesFiniteDifferences, rng, samples } from '../laws/index.js';
import { exportedModels } from './onnx-models.js';

const backend = onnxBackend();
const ort = createRequire(import.meta.url)('onnxruntime-node');

/**
 * Node types of a lowered graph, counted; a ConvTranspose with a constant kernel (a one-hot fold) is
 * `ConvTranspose(one-hot)`.
 */
function opTypes(bytes: Uint8Array): Record<string, number> {
  const graph = fromBinary(ModelProtoSchema, bytes).graph!;
  const constants = new Set(graph.initializer.map((t) => t.name));
  const counts: Record<string, number> = {};
  for (const n of graph.node) {
    const type = n.opType === 'ConvTranspose' && constants.has(n.input[1]) ? 'ConvTranspose(one-hot)' : n.opType;
    counts[type] = (counts[type] ?? 0) + 1;
  }
  return counts;
}

describe('ONNX Runtime backend', () => {
  it('is the CPU graph backend here, and runs a jitted gradient as one session', () => {
    expect(backend?.name).toBe('onnx');
    const loss = (w: Array, x: Array) => np.sum(np.tanh(np.matmul(x, w)));
    const w = random.normal(random.key(0), [4, 5]),
      x = random.normal(random.key(1), [3, 4]);
    expect(executionPlan(makeGraph(grad(loss))(w, x))).toMatch(
      /^step 0: onnx session of \d+ equations \(2 inputs, 1 outputs\)$/,
    );
    assertClose(jit(grad(loss))(w, x), grad(loss)(w, x));
  });

  describe('every sample row of a lowered primitive runs natively and equals its JavaScript kernel', () => {
    for (const row of samples()) {
      if (row.noEval || row.mappedOnly || !row.prim.onnx) continue;
      it(row.label, () => {
        const g = Graph.ofEquation(
          row.prim,
          row.inputs.map((a) => a.aval),
          row.params,
        );
        const x = backend!.compile(g);
        // Integer products stay in JavaScript by design: ONNX Runtime saturates them, numpy wraps.
        if (/^reduce_prod u?int32/.test(row.label)) expect(x.plan).toContain('js');
        else expect(x.plan).not.toContain('js');
        const got = x.run(row.inputs as ConcreteArray[]),
          want = interpret(g, row.inputs as ConcreteArray[]);
        got.forEach((o, i) => {
          expect(o.dtype).toBe(want[i].dtype);
          assertClose(o, want[i], { rtol: 1e-5, atol: 1e-6 }, `${row.label} output ${i}`);
        });
      });
    }
  });

  describe('jit(grad) through ONNX Runtime matches finite differences over the sample table', () => {
    for (const row of samples()) {
      if (row.noEval || row.mappedOnly || !row.diff.length || row.noReverse) continue;
      it(row.label, () => {
        const apply = jit((...xs: Array[]) => bind(row.prim, xs, row.params));
        expect(gradMatchesFiniteDifferences(apply, row.inputs, row.diff, rng(1))).toBe(true);
      });
    }
  });

  it('grad(jit(f)) keeps its forward and backward passes as jitted calls (one session each)', () => {
    const x = random.normal(random.key(7), [8, 4]),
      w = random.normal(random.key(8), [4, 3]);
    const loss = (w: Array, x: Array) => np.sum(np.tanh(np.matmul(x, w)));
    const jitted = jit(loss);
    const [, lin] = linearizeFlat((w) => [jitted(w, x)], [w]);
    expect(lin.graph.eqns.map((e) => e.prim.name)).toEqual(['call']);
    // The call left in the linear program holds only linear work: the forward pass ran in the known call.
    const inner = (lin.graph.eqns[0].params as { graph: Graph }).graph;
    expect(inner.eqns.every((e) => e.prim.props?.linear)).toBe(true);
    expect(lin.residuals.length).toBeGreaterThan(0);
    assertClose(grad(jitted)(w, x), grad(loss)(w, x));
    assertClose(grad(jitted)(np.multiply(w, 2), x), grad(loss)(np.multiply(w, 2), x));
    expect(jitted.traceCount).toBe(1);
  });

  it('lowers convolutions and their gradients to Conv/ConvTranspose (strides, padding, dilation, groups)', () => {
    const x = random.normal(random.key(2), [2, 4, 9, 8]);
    const w = random.normal(random.key(3), [6, 2, 3, 3]);
    const loss = (w: Array, x: Array) =>
      np.sum(np.square(nn.functional.conv2d(x, w, null, { stride: 2, padding: 1, dilation: 2, groups: 2 })));
    const both = (w: Array, x: Array) => grad(loss, { argnums: [0, 1] })(w, x);
    const [gw, gx] = jit(both)(w, x) as Array[];
    const [ew, ex] = both(w, x) as Array[];
    assertClose(gw, ew, { rtol: 1e-4, atol: 1e-4 });
    assertClose(gx, ex, { rtol: 1e-4, atol: 1e-4 });
    const ops = opTypes(onnx.lowerGraph(makeGraph(both)(w, x)).bytes);
    expect(ops.Conv).toBeGreaterThanOrEqual(1);
    expect(ops.ConvTranspose).toBe(1);
  });

  it('runs the LeNet-5 Adam step as one session without materialised patches', () => {
    const model = models.lenet5();
    const init = model.init(random.key(0), [8, 1, 28, 28]);
    const opt = optim.adam(1e-3);
    const step = (params: any, optState: any, x: Array, y: Array) => {
      const [l, g] = valueAndGrad((p: any) =>
        nn.softmaxCrossEntropy(model.apply(p, init.state, x, { training: true }).y, y),
      )(params);
      const { updates, state } = opt.update(g, optState, params);
      return { params: optim.applyUpdates(params, updates), optState: state, loss: l, grads: g };
    };
    const x = random.normal(random.key(1), [8, 1, 28, 28]),
      y = np.remainder(np.arange(8), 10).astype('int32');
    const g = makeGraph(step)(init.params, opt.init(init.params), x, y);
    expect(executionPlan(g).split('\n')).toHaveLength(1);
    const ops = opTypes(onnx.lowerGraph(g).bytes);
    expect(ops.Conv).toBe(4); // two forward, two weight gradients
    expect(ops.ConvTranspose).toBe(1); // conv2's input gradient
    expect(ops.Col2Im).toBe(2); // the pooling gradients' folds
    expect(ops['ConvTranspose(one-hot)']).toBeUndefined();
    expect(ops.SpaceToDepth).toBe(2); // 2x2 pooling windows
    // No window taps (no patches anywhere), and Adam's one chain for the small parameters comes
    // apart in one Split per result (parameters and both moments), not a Slice per parameter.
    expect(ops.Slice).toBeUndefined();
    expect(ops.Split).toBe(3);
    expect(ops.Expand ?? 0).toBeLessThanOrEqual(2); // broadcasts feed ONNX's own broadcasting
    const jitted = jit(step)(init.params, opt.init(init.params), x, y),
      eager = step(init.params, opt.init(init.params), x, y);
    assertClose(jitted.loss, eager.loss);
    const [gotG, wantG] = [tree.leaves(jitted.grads) as Array[], tree.leaves(eager.grads) as Array[]];
    gotG.forEach((g, i) => assertClose(g, wantG[i], undefined, `gradient ${i}`));
    // Adam's first step moves each parameter by about lr·sign(g): where g is within rounding of
    // zero (summation orders differ between ONNX Runtime's kernels and JavaScript's), by up to lr.
    const [got, want] = [tree.leaves(jitted.params) as Array[], tree.leaves(eager.params) as Array[]];
    got.forEach((p, i) => assertClose(p, want[i], { rtol: 1e-4, atol: 2e-3 }, `parameter ${i}`));
  });

  it('pools with every window shape: tiles, overlaps, padding, ceil mode (values and gradients)', () => {
    const x = random.normal(random.key(6), [2, 3, 9, 8]);
    const pools: [string, (x: Array) => Array][] = [
      ['max 2x2', (x) => nn.functional.maxPool2d(x, { kernelSize: 2 })],
      ['max 3x3 stride 2 padding 1', (x) => nn.functional.maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 })],
      ['avg 2x2 ceil mode', (x) => nn.functional.avgPool2d(x, { kernelSize: 2, ceilMode: true })],
      [
        'max 2x2 on an even crop',
        (x) => nn.functional.maxPool2d(x.slice(null, null, [0, 8], [0, 8]), { kernelSize: 2 }),
      ],
    ];
    for (const [name, pool] of pools) {
      const loss = (x: Array) => np.sum(np.square(pool(x)));
      assertClose(jit(pool)(x), pool(x), undefined, `${name} value`);
      assertClose(jit(grad(loss))(x), grad(loss)(x), { rtol: 1e-4, atol: 1e-5 }, `${name} gradient`);
    }
  });

  it('unrolls a scan (an LSTM) into the session, forward and backward', () => {
    const lstm = nn.rnn(nn.lstmCell(3)),
      key = random.key(4);
    const init = lstm.init(key, [2, 5, 2]);
    const x = random.normal(random.key(5), [2, 5, 2]);
    const loss = (p: any, x: Array) => np.sum(lstm.apply(p, init.state, x).y);
    const g = makeGraph(grad(loss))(init.params, x);
    expect(executionPlan(g)).not.toContain('js scan');
    const [got, want] = [
      tree.flatten<Array>(jit(grad(loss))(init.params, x))[0],
      tree.flatten<Array>(grad(loss)(init.params, x))[0],
    ];
    expect(got).toHaveLength(want.length);
    got.forEach((g, i) => assertClose(g, want[i], { rtol: 1e-4, atol: 1e-5 }, `gradient ${i}`));
  });
});

describe('onnx.exportModel', () => {
  for (const [name, make] of exportedModels) {
    it(`${name} runs in onnxruntime-node with Fluxion's outputs`, async () => {
      const { layer, shape } = make();
      const init = layer.init(random.key(0), shape);
      const x = random.normal(random.key(1), shape);
      const predict = (x: Array) => layer.apply(init.params, init.state, x).y;
      const bytes = onnx.exportModel(predict, [x], { inputNames: ['x'], outputNames: ['logits'] });
      const session = await ort.InferenceSession.create(bytes);
      expect(session.inputNames).toEqual(['x']);
      const out = await session.run({ x: new ort.Tensor('float32', x.dataSync(), shape) });
      const want = predict(x);
      expect(out.logits.dims).toEqual(want.shape);
      assertClose(np.array(globalThis.Array.from(out.logits.data as Float32Array)).reshape(want.shape), want, {
        rtol: 1e-4,
        atol: 1e-4,
      });
    });
  }

  it('keeps float16, float64, int8 and uint8 tensors as such, and they import back as such', async () => {
    const w = np.array(
      [
        [0.5, -1.25],
        [2, 0.1],
      ],
      { dtype: 'float16' },
    );
    const f = (x: Array, image: Array, d: Array) => [np.matmul(x, w), np.add(image, 10), np.multiply(d, 1 + 1e-12)];
    const x = np.array([[1, 2]], { dtype: 'float16' });
    const image = np.array([250, 3], { dtype: 'uint8' });
    const d = np.array([1, 2], { dtype: 'float64' });
    const bytes = onnx.exportModel(f, [x, image, d], {
      inputNames: ['x', 'image', 'd'],
      outputNames: ['y', 'brighter', 'wide'],
    });
    const session = await ort.InferenceSession.create(bytes);
    const out = await session.run({
      x: new ort.Tensor('float16', (x as ConcreteArray).storage, [1, 2]),
      image: new ort.Tensor('uint8', (image as ConcreteArray).storage, [2]),
      d: new ort.Tensor('float64', (d as ConcreteArray).storage, [2]),
    });
    const [y, , wide] = f(x, image, d);
    expect([out.y.type, out.brighter.type, out.wide.type]).toEqual(['float16', 'uint8', 'float64']);
    expect(globalThis.Array.from(out.y.data as Uint16Array)).toEqual(
      globalThis.Array.from((y as ConcreteArray).storage),
    );
    expect(globalThis.Array.from(out.brighter.data as Uint8Array)).toEqual([4, 13]); // uint8 wraps
    expect(globalThis.Array.from(out.wide.data as Float64Array)).toEqual(wide.toArray());
    const back = onnx.load(bytes);
    expect(back.inputs.map((i) => i.elemType)).toEqual(['float16', 'uint8', 'double']);
    expect(back.params.param0.dtype).toBe('float16'); // the closed-over weight, a float16 initializer
    const again = back.fn(back.params, x, image, d);
    expect(again.map((a) => a.dtype)).toEqual(['float16', 'uint8', 'float64']);
    expect(again[0].toArray()).toEqual(y.toArray());
  });

  it('refuses unknown options and opsets it does not write', () => {
    const f = (x: Array) => np.exp(x);
    expect(() => onnx.exportModel(f, [np.ones([2])], { opset: 11 })).toThrow(/opset 11 is not supported/);
    expect(() => onnx.exportModel(f, [np.ones([2])], { inputs: ['x'] } as never)).toThrow(/unknown option 'inputs'/);
    expect(() => onnx.exportModel(f, [np.ones([2])], { inputNames: ['a', 'b'] })).toThrow(
      /2 input names for 1 array inputs/,
    );
  });
});

describe('onnx.exportModel: fused recurrent layers and dynamic axes', () => {
  /** Runs an exported model in onnxruntime-node on `x` and compares every output with Fluxion's. */
  async function runsLikeFluxion(bytes: Uint8Array, predict: (x: Array) => unknown, x: Array) {
    const session = await ort.InferenceSession.create(bytes);
    const out = await session.run({ x: new ort.Tensor('float32', x.dataSync(), x.shape) });
    const want = [predict(x)].flat(4) as Array[];
    expect(session.outputNames.length).toBe(want.length);
    session.outputNames.forEach((name: string, i: number) => {
      expect(out[name].dims).toEqual(want[i].shape);
      const got = np.array(globalThis.Array.from(out[name].data as Float32Array)).reshape([...want[i].shape]);
      assertClose(got, want[i], { rtol: 1e-4, atol: 1e-5 });
    });
  }
  const dimsOf = (bytes: Uint8Array) => {
    const m = onnx.load(bytes);
    return { inputs: m.inputs.map((i) => i.shape), outputs: m.outputs.map((o) => o.shape) };
  };

  const recurrent: [string, string, nn.Layer][] = [
    ['LSTM', 'LSTM', nn.rnn(nn.lstmCell(8), { batchFirst: true })],
    ['peephole bidirectional LSTM', 'LSTM', nn.rnn(nn.lstmCell(6, { peephole: true }), { bidirectional: true })],
    [
      'bidirectional GRU (last step)',
      'GRU',
      nn.rnn(nn.gruCell(8), { batchFirst: true, bidirectional: true, returnSequences: false }),
    ],
    ['Elman RNN with its final state', 'RNN', nn.rnn(nn.rnnCell(5), { batchFirst: true, returnState: true })],
  ];
  for (const [name, op, layer] of recurrent) {
    it(`${name}: one ONNX ${op} node per direction, any batch and sequence length`, async () => {
      const init = layer.init(random.key(0), [4, 3, 4]);
      const predict = (x: Array) => layer.apply(init.params, init.state, x).y;
      const bytes = onnx.exportModel(predict, [np.zeros([4, 3, 4])], {
        inputNames: ['x'],
        dynamicAxes: { x: { 0: 'a', 1: 'b' } },
      });
      const ops = opTypes(bytes);
      expect(ops[op]).toBe(name.includes('bidirectional') ? 2 : 1);
      expect(ops.Gather ?? 0).toBe(0); // not unrolled
      expect(dimsOf(bytes).inputs).toEqual([['a', 'b', 4]]);
      for (const shape of [
        [4, 3, 4],
        [2, 7, 4],
        [1, 1, 4],
      ])
        await runsLikeFluxion(bytes, predict, random.normal(random.key(shape[1]), shape));
    });
  }

  it('the jitted CPU path runs the fused operator too, and gradients see through it', () => {
    const layer = nn.rnn(nn.lstmCell(4), { batchFirst: true, returnSequences: false });
    const init = layer.init(random.key(0), [2, 5, 3]);
    const x = random.normal(random.key(1), [2, 5, 3]);
    const loss = (p: unknown) => np.sum(np.square(layer.apply(p, init.state, x).y as Array));
    const lowered = onnx.lowerGraph(makeGraph(loss)(init.params)).bytes;
    expect(opTypes(lowered).LSTM).toBe(1);
    assertClose(jit(loss)(init.params), loss(init.params), { rtol: 1e-5, atol: 1e-6 });
    const g = jit(grad(loss))(init.params) as Record<string, Record<string, Array>>;
    const eager = grad(loss)(init.params) as Record<string, Record<string, Array>>;
    for (const k of Object.keys(eager.forward)) assertClose(g.forward[k], eager.forward[k], { rtol: 1e-4, atol: 1e-6 });
    const withWhh = (w: Array) => [loss({ ...init.params, forward: { ...init.params.forward, wHh: w } })];
    expect(gradMatchesFiniteDifferences(withWhh, [init.params.forward.wHh], [0], rng(7))).toBe(true);
  });

  it("a jitted function's own constants are built into its sessions (ONNX Runtime folds them); arguments stay inputs", () => {
    const w = random.normal(random.key(5), [6, 4]),
      b = random.normal(random.key(6), [4]);
    const x = random.normal(random.key(7), [3, 6]);
    const affine = (wv: Array, bv: Array, xv: Array) => np.tanh(np.add(np.matmul(xv, wv), bv));
    const closed = (xv: Array) => affine(w, b, xv); // closes over w and b: its constants
    assertClose(jit(closed)(x), affine(w, b, x), { rtol: 1e-6, atol: 1e-6 });
    const { graph, consts } = makeClosedGraph(closed)(x);
    expect(consts.length).toBe(2);
    expect(executionPlan(graph, consts)).toMatch(/\(1 inputs, 1 outputs\)/);
    expect(executionPlan(graph)).toMatch(/\(3 inputs, 1 outputs\)/); // values unknown: fed
    // The same arrays passed as arguments stay inputs: one program for all their values.
    expect(executionPlan(makeGraph(affine)(w, b, x), [])).toMatch(/\(3 inputs, 1 outputs\)/);
    // Each set of constants compiles once, up to four sets; beyond, they are fed as inputs.
    const inputs = [1, 2, 3, 4, 5].map((k) => {
      const wk = np.multiply(w, k);
      return executionPlan(
        graph,
        consts.map((c) => (c === w ? wk : c)),
      ).match(/\((\d) inputs/)![1];
    });
    expect(inputs).toEqual(['1', '1', '1', '3', '3']); // with the first set, four
  });

  it('a convolution with constant weights lowers as ONNX Runtime can fuse it: Conv, Mul, Add, Relu, nothing between', () => {
    const [w, scale, shift] = [
      [16, 8, 3, 3],
      [16, 1, 1],
      [16, 1, 1],
    ].map((s, i) => random.normal(random.key(i), s));
    const block = (wv: Array, xv: Array) =>
      nn.functional.relu(np.add(np.multiply(nn.functional.conv2d(xv, wv, null, { padding: 1 }), scale), shift));
    const x = random.normal(random.key(9), [3, 8, 10, 10]).at(1, 3, 4, 4).set(NaN); // 300 output positions
    const lower = (g: Graph, constants: ConcreteArray[] = []) => {
      const initializers = new Map(constants.map((c, i) => [i, { data: c.buffer, aval: c.aval }]));
      return fromBinary(ModelProtoSchema, onnx.lowerGraph(g, { nchwcBlock: 8, initializers }).bytes).graph!.node;
    };
    const { graph, consts } = makeClosedGraph((xv: Array) => block(w, xv))(x);
    const closed = lower(graph, consts as ConcreteArray[]); // the filter is a constant, as the CPU backend builds it in
    expect(closed.map((n) => n.opType)).toEqual(['Conv', 'Mul', 'Add', 'Relu']);
    expect(closed.every((n, i) => i === 0 || n.input.includes(closed[i - 1].output[0]))).toBe(true);
    // A filter that is an argument (a training step's) is reordered in the graph for the blocked kernels.
    const fed = lower(makeGraph(block)(w, x));
    expect(fed.filter((n) => n.domain === 'com.microsoft.nchwc').map((n) => n.opType)).toEqual([
      'ReorderInput',
      'Conv',
      'ReorderOutput',
    ]);
    const [eager, compiled] = [block(w, x), jit((xv: Array) => block(w, xv))(x)];
    expect(np.isnan(compiled).toArray()).toEqual(np.isnan(eager).toArray()); // ReLU keeps NaN, fused or not
    expect(Number(np.sum(np.isnan(eager)))).toBeGreaterThan(0);
    const finite = (v: Array) => np.where(np.isnan(v), 0, v);
    assertClose(finite(compiled), finite(eager), { rtol: 1e-5, atol: 1e-5 });
  });

  it('outputs that are reshapes of computed values come out as those values (CPU backend), with no copy node', () => {
    // Large elementwise ops drop trailing unit axes, then reshape back: the reshape into an output was a copy.
    const f = (w: Array) => np.add(np.multiply(w, 0.5), 1);
    const w = random.normal(random.key(0), [128, 256, 1, 1]);
    const graph = (loose: boolean) =>
      fromBinary(ModelProtoSchema, onnx.lowerGraph(makeGraph(f)(w), { looseOutputShapes: loose }).bytes).graph!;
    const [strict, loose] = [graph(false), graph(true)];
    // The shape each output has as computed, so that a runtime can hand ONNX Runtime a buffer of that shape.
    const shapes = (opts: object) => onnx.lowerGraph(makeGraph(f)(w), opts).outputShapes;
    expect(shapes({ looseOutputShapes: true })).toEqual([[128, 256]]);
    expect(shapes({})).toEqual([[128, 256, 1, 1]]);
    expect(strict.node.map((n) => n.opType)).toEqual(['Reshape', 'Mul', 'Add', 'Reshape']);
    expect(loose.node.map((n) => n.opType)).toEqual(['Reshape', 'Mul', 'Add']);
    expect(loose.output[0].type?.value.case === 'tensorType' && loose.output[0].type.value.value.shape).toBeFalsy();
    const y = jit(f)(w);
    expect(y.shape).toEqual([128, 256, 1, 1]);
    assertClose(y, f(w));
  });

  it('batch statistics lower without reshapes: sums keep their axes, small per-channel ops keep theirs', () => {
    const types = (f: (x: Array) => Array, x: Array) =>
      fromBinary(ModelProtoSchema, onnx.lowerGraph(makeGraph(f)(x)).bytes).graph!.node.map((n) => n.opType);
    const centre = (x: Array) => np.subtract(x, np.mean(x, { axis: [0, 2, 3], keepdims: true }));
    // 16x16 images (on images of 64 values or fewer the subtraction is a BatchNormalization, below).
    const x = random.normal(random.key(0), [4, 64, 16, 16]);
    expect(types(centre, x)).toEqual(['ReduceSum', 'Div', 'Sub']);
    assertClose(jit(centre)(x), centre(x));
    // [1, 64, 1, 1]: too small for ONNX Runtime's crawl over trailing unit axes to matter.
    const affine = (v: Array) => np.add(np.multiply(v, 2), 1);
    expect(types(affine, random.normal(random.key(1), [1, 64, 1, 1]))).toEqual(['Mul', 'Add']);
  });

  it('graphs compiled without the optimiser declare the shapes of large inputs only, with the same results', () => {
    // ONNX Runtime's allocation planner is quadratic in the distinct sizes it knows (see shapedInputsFrom).
    const f = (small: Array, big: Array) => [np.sqrt(np.add(np.square(small), 1)), np.multiply(big, 2)];
    const [small, big] = [random.normal(random.key(0), [3, 5]), random.normal(random.key(1), [64, 1024])];
    const inputs = fromBinary(
      ModelProtoSchema,
      onnx.lowerGraph(makeGraph(f)(small, big), { shapedInputsFrom: 65536 }).bytes,
    ).graph!.input.map(
      (v) => v.type?.value.case === 'tensorType' && v.type.value.value.shape?.dim.map((d) => d.value.value),
    );
    expect(inputs).toEqual([undefined, [64n, 1024n]]);
    // jit compiles such graphs (its arguments are inputs, not constants) and agrees with eager.
    const [a, b] = jit(f)(small, big);
    assertClose(a, f(small, big)[0]);
    assertClose(b, f(small, big)[1]);
  });

  it('packs small outputs into one flat output per element type, and jit unpacks them equal to eager', () => {
    const f = (x: Array, big: Array) => [
      np.exp(x),
      np.sum(x),
      np.greater(x, 0),
      np.less(x, 0),
      np.astype(x, 'int32'),
      np.astype(x, 'float16'),
      np.multiply(big, 2),
    ];
    const [x, big] = [random.normal(random.key(0), [2, 3]), random.normal(random.key(1), [64, 128])];
    const lowered = onnx.lowerGraph(makeGraph(f)(x, big), { packBelow: 4096 });
    // float32 (exp, sum, the float16 computed in float32) and bool pack; one int32 and the large output do not.
    expect(lowered.packedOutputs.map((p) => [p.members.map((m) => m.index), p.size])).toEqual([
      [[0, 1, 5], 13],
      [[2, 3], 12],
    ]);
    expect(fromBinary(ModelProtoSchema, lowered.bytes).graph!.output.length).toBe(4);
    const got = jit(f)(x, big);
    f(x, big).forEach((want, i) => {
      expect(got[i].dtype).toBe(want.dtype);
      assertClose(got[i], want);
    });
  });

  it('lowers a large transpose in its canonical form (unit axes dropped, adjacent axes merged), and transposes still compose', () => {
    const lower = (f: (x: Array) => Array, x: Array) => {
      const graph = fromBinary(ModelProtoSchema, onnx.lowerGraph(makeGraph(f)(x)).bytes).graph!;
      const t = graph.node.find((n) => n.opType === 'Transpose');
      return { types: graph.node.map((n) => n.opType), perm: t?.attribute[0].ints.map(Number) };
    };
    // [8, 1, 64, 16, 16] to [1, 8, 16, 16, 64] moves the same elements as [8, 64, 256] to [8, 256, 64].
    const x = random.normal(random.key(0), [8, 1, 64, 16, 16]);
    const move = (v: Array) => np.transpose(v, [1, 0, 3, 4, 2]);
    expect(lower(move, x)).toEqual({ types: ['Reshape', 'Transpose', 'Reshape'], perm: [0, 2, 1] });
    assertClose(jit(move)(x), move(x));
    // Only unit axes move: a reshape.
    const units = (v: Array) => np.transpose(v, [1, 0, 2, 3, 4]);
    expect(lower(units, x)).toEqual({ types: ['Reshape'], perm: undefined });
    assertClose(jit(units)(x), units(x));
    // A transpose of a collapsed transpose composes (here, cancels: the output is the input).
    expect(lower((v) => np.transpose(move(v), [1, 0, 4, 2, 3]), x).types).toEqual(['Identity']);
    // Already canonical: one node. Small transposes stay as they are (each shape ONNX Runtime learns
    // costs its allocation planner).
    expect(lower((v) => np.transpose(v, [0, 2, 1]), random.normal(random.key(1), [64, 32, 32])).types).toEqual([
      'Transpose',
    ]);
    expect(lower(move, random.normal(random.key(2), [2, 1, 3, 2, 2])).types).toEqual(['Transpose']);
  });

  it('places each node right after the last node it depends on, and the reordered graph computes the same', () => {
    // An optimizer-like graph: `m * 0.9` needs only an input but was traced after `g`'s long chain.
    // ONNX Runtime's graph sorts walk every node left waiting like that (see readyOrder in lower.ts).
    const f = (m: Array, g: Array) => {
      let x = g;
      for (let i = 0; i < 4; i++) x = np.tanh(np.exp(x));
      return np.add(np.multiply(m, 0.9), x);
    };
    const [m, g] = [random.normal(random.key(0), [3, 5]), random.normal(random.key(1), [3, 5])];
    const nodes = fromBinary(ModelProtoSchema, onnx.lowerGraph(makeGraph(f)(m, g)).bytes).graph!.node;
    // Both nodes that need only inputs come first (traced order: the Mul came ninth).
    expect(nodes.map((n) => n.opType)).toEqual([
      'Exp',
      'Mul',
      'Tanh',
      'Exp',
      'Tanh',
      'Exp',
      'Tanh',
      'Exp',
      'Tanh',
      'Add',
    ]);
    assertClose(jit(f)(m, g), f(m, g));
  });

  it('a convolution with few output positions and a large filter trains as GEMMs over the batch, equal to eager', () => {
    // 2 images of 3x3 (18 positions) through a 64x128x3x3 filter: ONNX Runtime's Conv would run one
    // GEMM per image, streaming the filter each time.
    const lower = (g: Graph) => fromBinary(ModelProtoSchema, onnx.lowerGraph(g, { nchwcBlock: 8 }).bytes).graph!.node;
    const cases = [
      { x: [2, 128, 3, 3], w: [64, 128, 3, 3], opts: { padding: 1 }, gemms: 3 },
      { x: [3, 128, 5, 4], w: [64, 128, 3, 3], opts: { padding: [2, 1], stride: 2, dilation: [2, 1] }, gemms: 3 },
      { x: [2, 512, 2, 2], w: [256, 512, 1, 1], opts: {}, gemms: 3 }, // 1x1: the patches are the input itself
      { x: [2, 16, 3, 3], w: [8, 16, 3, 3], opts: { padding: 1 }, gemms: 0 }, // a small filter stays a Conv
    ];
    for (const { x: xs, w: ws, opts, gemms } of cases) {
      const [x, w] = [random.normal(random.key(1), xs), random.normal(random.key(2), ws)];
      const loss = (xv: Array, wv: Array) => np.sum(np.sin(nn.functional.conv2d(xv, wv, null, opts)));
      const step = valueAndGrad(loss, { argnums: [0, 1] });
      const types = lower(makeGraph(step)(x, w)).map((n) => n.opType);
      expect(types.filter((t) => t === 'Gemm').length).toBe(gemms);
      if (gemms) {
        expect(types).not.toContain('Conv');
        // What is left of windows: the Col2Im that puts each window offset back (3x3 only).
        expect(types.filter((t) => t === 'Col2Im').length).toBe(ws[2] === 1 ? 0 : 1);
        expect(types).not.toContain('ConvTranspose');
        // One set of im2col columns, shared by the forward and the filter gradient (the builder
        // makes each node once): a Slice per window offset.
        expect(types.filter((t) => t === 'Slice').length).toBe(ws[2] * ws[3] === 1 ? 0 : ws[2] * ws[3]);
      }
      const [[v0, [gx0, gw0]], [v1, [gx1, gw1]]] = [step(x, w), jit(step)(x, w)];
      assertClose(v1, v0, { rtol: 1e-4, atol: 1e-3 });
      assertClose(gx1, gx0, { rtol: 1e-4, atol: 1e-4 });
      assertClose(gw1, gw0, { rtol: 1e-4, atol: 1e-4 });
    }
  });

  it('maxPool2d lowers to MaxPool (no unfolded windows) and equals eager: padding, ceil mode, dilation, NaN, dtypes', () => {
    const cases = [
      { kernelSize: 3, stride: 2, padding: 1 },
      { kernelSize: 2 },
      { kernelSize: 3, stride: 2, ceilMode: true },
      { kernelSize: [2, 3], stride: [1, 2], padding: [1, 1], dilation: 2 },
    ];
    for (const [i, opts] of cases.entries())
      for (const dtype of ['float32', 'float64', 'float16'] as const) {
        const f = (x: Array) => nn.functional.maxPool2d(x, opts);
        // Every value distinct, with a NaN and an infinity inside some windows, windows whose
        // values are all -infinity, at padded corners and inside (ONNX Runtime's float32 kernels
        // answer the lowest float there), and windows of -0 among -infinities (toEqual tells -0
        // from +0).
        const x = np
          .add(random.permutation(random.key(3), 2 * 3 * 9 * 11).reshape([2, 3, 9, 11]), 0)
          .astype(dtype)
          .at(0, 1, 4, 5)
          .set(NaN)
          .at(1, 2, 0, 0)
          .set(Infinity)
          .at(0, 0, '0:3', '0:4')
          .set(-Infinity)
          .at(1, 1, '5:', '7:')
          .set(-Infinity)
          .at(1, 0, '0:2', '0:2')
          .set(-Infinity)
          .at(1, 0, 0, 0)
          .set(-0);
        const ops = opTypes(onnx.lowerGraph(makeGraph(f)(x)).bytes);
        expect(ops.MaxPool).toBe(2); // the values, and which windows hold a NaN or only -infinity
        expect(ops.Slice ?? 0).toBe(0);
        const [eager, compiled] = [f(x), jit(f)(x)];
        expect(compiled.dtype).toBe(dtype);
        expect(compiled.toArray()).toEqual(eager.toArray());
        expect(Number.isNaN(Number(np.sum(compiled)))).toBe(true);
        expect(Number(np.min(np.where(np.isnan(compiled), 0, compiled)))).toBe(-Infinity);
        // The first two windowings pool a -0 with -infinities only into [1, 0, 0, 0].
        if (i < 2) expect(Object.is((compiled.toArray() as number[][][][])[1][0][0][0], -0)).toBe(true);
      }
    // After a convolution with constant weights, where ONNX Runtime's optimiser pools on its blocked
    // (NCHWc) kernels: windows of -infinity inside too.
    const w = np.abs(random.normal(random.key(5), [16, 16, 3, 3]));
    const masked = (v: Array) =>
      nn.functional.maxPool2d(np.where(np.less(v, -0.3), -Infinity, nn.functional.conv2d(v, w, null, { padding: 1 })), {
        kernelSize: 3,
        stride: 2,
        padding: 1,
      });
    const v = random.normal(random.key(6), [2, 16, 9, 9]);
    const [expected, pooled] = [masked(v), jit(masked)(v)];
    expect(np.isneginf(pooled).toArray()).toEqual(np.isneginf(expected).toArray());
    expect(Number(np.sum(np.isneginf(expected)))).toBeGreaterThan(0);
    assertClose(np.where(np.isneginf(pooled), 0, pooled), np.where(np.isneginf(expected), 0, expected), {
      rtol: 1e-4,
      atol: 1e-4,
    });
    // Gradients go through the decomposition: one 1 per window at its maximum.
    const x = random.normal(random.key(4), [1, 2, 6, 6]);
    const loss = (v: Array) => np.sum(nn.functional.maxPool2d(v, { kernelSize: 2 }));
    assertClose(jit(grad(loss))(x), grad(loss)(x), { rtol: 0, atol: 0 });
    expect(Number(np.sum(grad(loss)(x)))).toBe(18);
  });

  it('float64 and float16 layers keep the scan (ONNX Runtime runs fused LSTMs in float32 only), equal to eager', () => {
    const layer = nn.rnn(nn.lstmCell(4), { batchFirst: true });
    const init = layer.init(random.key(0), [2, 5, 3]);
    const f = (p: unknown, x: Array) => layer.apply(p, init.state, x).y as Array;
    for (const dtype of ['float64', 'float16'] as const) {
      const p = tree.map((w: Array) => w.astype(dtype), init.params);
      const x = random.normal(random.key(1), [2, 5, 3]).astype(dtype);
      expect(opTypes(onnx.lowerGraph(makeGraph(f)(p, x)).bytes).LSTM).toBeUndefined();
      const [eager, compiled] = [f(p, x), jit(f)(p, x)];
      expect(compiled.dtype).toBe(dtype);
      expect(compiled.toArray()).toEqual(eager.toArray());
    }
  });

  it('a CNN traced at batch 1 runs at batches 1, 3 and 7, with its batch axis named', async () => {
    const layer = nn.serial(nn.conv2d(4, 3), nn.relu, nn.maxPool2d(2), nn.flatten, nn.dense(10));
    const init = layer.init(random.key(0), [1, 1, 8, 8]);
    const predict = (x: Array) => layer.apply(init.params, init.state, x).y;
    const bytes = onnx.exportModel(predict, [np.zeros([1, 1, 8, 8])], {
      inputNames: ['x'],
      outputNames: ['logits'],
      dynamicAxes: { x: { 0: 'batch' } },
    });
    expect(dimsOf(bytes)).toEqual({ inputs: [['batch', 1, 8, 8]], outputs: [['batch', 10]] });
    for (const b of [1, 3, 7]) await runsLikeFluxion(bytes, predict, random.normal(random.key(b), [b, 1, 8, 8]));
    const back = onnx.load(bytes); // and Fluxion reads the open axis back
    const x5 = random.normal(random.key(5), [5, 1, 8, 8]);
    assertClose([back.fn(back.params, x5)].flat()[0] as Array, predict(x5), { rtol: 1e-5, atol: 1e-6 });
  });

  it('shapes computed from two sizes (batch*seq reshapes, a mean over seq) follow both', async () => {
    const w = random.normal(random.key(3), [6, 18]);
    const attention = (x: Array) => {
      const [b, t] = x.shape;
      const qkv = np
        .matmul(x, w)
        .reshape([b * t, 3, 2, 3])
        .reshape([b, t, 3, 2, 3]);
      const [q, k, v] = [0, 1, 2].map((i) => np.transpose(np.slice(qkv, null, null, i), [0, 2, 1, 3]));
      const a = nn.functional.softmax(np.divide(np.matmul(q, np.swapaxes(k, -1, -2)), Math.sqrt(3)), -1);
      const y = np.transpose(np.matmul(a, v), [0, 2, 1, 3]).reshape([b, t, 6]);
      return [y, np.mean(y, { axis: 1 })];
    };
    const bytes = onnx.exportModel(attention, [np.zeros([2, 4, 6])], {
      inputNames: ['x'],
      outputNames: ['y', 'pooled'],
      dynamicAxes: { x: { 0: 'batch', 1: 'seq' }, pooled: { 0: 'n' } },
    });
    expect(dimsOf(bytes).outputs).toEqual([
      ['batch', 'seq', 6],
      ['n', 6],
    ]);
    for (const [b, t] of [
      [2, 4],
      [3, 9],
      [1, 1],
    ])
      await runsLikeFluxion(bytes, attention, random.normal(random.key(t), [b, t, 6]));
  });

  it('refuses what ONNX shapes cannot express, and bad axes, naming them', () => {
    const loop = (x: Array) => {
      let y = np.slice(x, null, 0);
      for (let i = 1; i < x.shape[1]; i++) y = np.add(y, np.slice(x, null, i));
      return y;
    };
    expect(() => onnx.exportModel(loop, [np.zeros([2, 3])], { dynamicAxes: { input0: [1] } })).toThrow(
      /exportModel: dynamicAxes: the traced graph changes with the sizes .*input0_1=\d/,
    );
    const squared = (x: Array) => np.add(x, x.shape[0] ** 2);
    expect(() => onnx.exportModel(squared, [np.zeros([4])], { dynamicAxes: { input0: { 0: 'n' } } })).toThrow(
      /exportModel: dynamicAxes: the constant .* is not a multilinear function of n/,
    );
    const root = (x: Array) => np.multiply(x, Math.sqrt(x.shape[0]));
    expect(() => onnx.exportModel(root, [np.zeros([4])], { dynamicAxes: { input0: { 0: 'n' } } })).toThrow(
      /exportModel: dynamicAxes: the constant .* changes with n in a way ONNX shapes cannot express/,
    );
    const f = (x: Array) => np.exp(x);
    expect(() => onnx.exportModel(f, [np.zeros([2])], { dynamicAxes: { input0: [1] } })).toThrow(
      /input 'input0' \S+ has no axis 1/,
    );
    expect(() => onnx.exportModel(f, [np.zeros([2])], { dynamicAxes: { input0: 'batch' } as never })).toThrow(
      /dynamicAxes.input0 must be a list of axes or \{ axis: name \}/,
    );
    expect(() => onnx.exportModel(f, [np.zeros([2])], { dynamicAxes: { z: [0] } })).toThrow(
      /'z' is neither an input \(input0\) nor an output \(output0\)/,
    );
    expect(() =>
      onnx.exportModel((x: Array) => np.sum(x), [np.zeros([2])], { dynamicAxes: { input0: [0], output0: [0] } }),
    ).toThrow(/output 'output0' \(\) has no axis 0/);
    const constantShape = (x: Array) => [x, np.ones([3])];
    expect(() =>
      onnx.exportModel(constantShape, [np.zeros([2])], { dynamicAxes: { input0: [0], output1: { 0: 'n' } } }),
    ).toThrow(/axis 0 of output 'output1' does not change with input0_0/);
  });
});

describe('without ONNX Runtime', () => {
  it('FLUXION_CPU=js runs jit on the JavaScript kernels and says so in one line', () => {
    const script =
      "import { jit, np, grad } from './src/index.ts'; " +
      "console.log(jit(grad((x) => np.sum(np.sin(x))))(np.array([0, 1])).toArray().join(','));";
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, FLUXION_CPU: 'js' },
      encoding: 'utf8',
    });
    expect(r.stdout.trim()).toBe(`1,${Math.fround(Math.cos(1))}`);
    expect(r.stderr.trim().split('\n')).toEqual(['fluxion: FLUXION_CPU=js: jit runs on the JavaScript CPU kernels']);
  });
});

describe("ONNX Runtime's C API", () => {
  // A fresh process runs jitted functions of every kind of output (dtypes, packed, unit axes dropped,
  // empty, scalar) on the C API or on onnxruntime-node's binding. (The examples' training runs check
  // that the library stays loaded through garbage collection.)
  const script =
    "import { jit, np, random } from './src/index.ts'; " +
    'const x = random.normal(random.key(0), [64, 300, 1, 1]); ' +
    'const f = (v) => ({ big: np.add(np.multiply(v, 0.5), 1), mean: np.mean(v, { axis: 0 }), ' +
    "  n: np.sum(np.greater(v, 0)).astype('int32'), pos: np.greater(v, 0.5), d: v.astype('float64'), " +
    "  h: np.sqrt(np.abs(v)).astype('float16'), empty: np.zeros([0, 3]), s: np.max(v), i: np.argmax(np.reshape(v, [-1])) }); " +
    'const show = (o) => JSON.stringify(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, a]) => [k, a.shape, a.dtype, Array.from(a.dataSync().slice(0, 5)).map(Number), Number(a.astype("float64").sum())])); ' +
    'const first = show(jit(f)(x)); ' +
    'const again = show(jit((v) => f(np.multiply(v, 1)))(x)); ' +
    'console.log(JSON.stringify({ first, again, eager: show(f(x)) }));';
  const runs = (env: Record<string, string>) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, FLUXION_BACKEND: '', ...env },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr.slice(-1000)).toBe(0);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as { first: string; again: string; eager: string };
  };

  it('writes outputs of every dtype, packed or alone, empty or scalar, as the binding returns them', () => {
    const c = runs({});
    const binding = runs({ FLUXION_ORT_BINDING: '1' });
    expect(c.first).toBe(binding.first);
    expect(c.again).toBe(c.first);
    const parsed = JSON.parse(c.first) as [string, number[], string, number[], number][];
    const eager = JSON.parse(c.eager) as typeof parsed;
    expect(parsed.map(([k, shape, dtype]) => [k, shape, dtype])).toEqual(
      eager.map(([k, shape, dtype]) => [k, shape, dtype]),
    );
    parsed.forEach(([, , , head, sum], i) => {
      head.forEach((v, j) => expect(v).toBeCloseTo(eager[i][3][j], 4));
      expect(sum).toBeCloseTo(eager[i][4], 1);
    });
  });

  it("FLUXION_ORT_PROFILE writes each session's profile at exit, and the process exits cleanly", async () => {
    const { mkdtempSync, readdirSync, readFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(`${tmpdir()}/fluxion-profile-`);
    try {
      // The profile's file name, returned in ONNX Runtime's memory, was once read as a string and
      // that string freed: the process crashed at exit.
      const script =
        "import { jit, np } from './src/index.ts'; console.log(jit((x) => np.sum(np.exp(x)))(np.ones([3])).item());";
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        env: { ...process.env, FLUXION_BACKEND: '', FLUXION_ORT_PROFILE: `${dir}/run` },
        encoding: 'utf8',
      });
      expect(r.status, r.stderr.slice(-1000)).toBe(0);
      expect(Number(r.stdout.trim())).toBeCloseTo(3 * Math.E, 5);
      const events = readdirSync(dir).flatMap(
        (f) => JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')) as { name: string }[],
      );
      expect(events.some((e) => e.name === 'model_run')).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('donated arguments on the CPU', () => {
  it("are disposed, and the memory an earlier call returned is written by the next call's outputs, never memory anyone else sees", () => {
    const step = jit((w: Array, g: Array) => ({ w: np.subtract(w, np.multiply(g, 0.1)), n: np.sum(np.square(w)) }), {
      donateArgnums: [0],
    });
    const plain = jit((w: Array, g: Array) => np.subtract(w, np.multiply(g, 0.1)));
    const g = random.normal(random.key(1), [256, 64]);
    let w = random.normal(random.key(0), [256, 64]);
    let expected = np.add(w, 0);
    const buffers: ArrayBufferLike[] = [];
    for (let i = 0; i < 4; i++) {
      const old = w;
      w = step(w, g).w;
      expect(() => old.shape && (old as ConcreteArray).storage).toThrow(/used after dispose/);
      buffers.push((w as ConcreteArray).storage.buffer);
    }
    // (Any call's outputs take the memory on offer: the reference runs after.)
    for (let i = 0; i < 4; i++) expected = plain(expected, g);
    assertClose(w, expected, { rtol: 0, atol: 0 });
    // Each call's output lands in the memory of the state two calls back (the one donated last time).
    expect(buffers[2]).toBe(buffers[0]);
    expect(buffers[3]).toBe(buffers[1]);
    expect(buffers[1]).not.toBe(buffers[0]);
    // Memory a caller has seen (view) or that another array shares (a reshape) is disposed, never
    // reused: two calls on, the outputs would otherwise be written into it.
    const seen = step(w, g).w;
    const mine = seen.view();
    const copy = Float32Array.from(mine);
    w = step(step(seen, g).w, g).w;
    expect(mine).toEqual(copy);
    const kept = step(w, g).w;
    const shared = np.reshape(kept, [64, 256]);
    const before = Float32Array.from(shared.view());
    w = step(step(kept, g).w, g).w;
    expect(shared.view()).toEqual(before);
    // What a kernel just computed is free to reuse too (a model's initial state); memory a caller
    // handed in (np.array over their typed array) is not.
    const drawn = random.normal(random.key(2), [256, 64]);
    const drawnBuffer = (drawn as ConcreteArray).storage.buffer;
    w = step(step(drawn, g).w, g).w;
    expect((w as ConcreteArray).storage.buffer).toBe(drawnBuffer);
    const theirs = new Float32Array(256 * 64).fill(1);
    const flat = jit((v: Array, d: Array) => np.subtract(v, np.multiply(d, 0.1)), { donateArgnums: [0] });
    const d = random.normal(random.key(3), [256 * 64]);
    let v = flat(np.array(theirs), d);
    for (let i = 0; i < 3; i++) v = flat(v, d);
    expect(theirs.every((x) => x === 1)).toBe(true);
    expect(Number(np.mean(v))).toBeCloseTo(1 - 0.4 * Number(np.mean(d)), 4);
    // An argument that is also returned stays usable.
    const same = jit((a: Array, b: Array) => ({ a, s: np.add(a, b) }), { donateArgnums: [0] });
    const a = np.ones([300]);
    expect(same(a, a).a).toBe(a);
    expect(Number(np.sum(a))).toBe(300);
  });

  it("an output takes a donated argument's memory in the same call where every node reading it runs before the output is written", () => {
    // Adam's moment: only `m * 0.9` reads m, and the add that writes the new m follows it.
    const moment = (m: Array, g: Array) => np.add(np.multiply(m, 0.9), np.multiply(g, 0.1));
    expect(onnx.lowerGraph(makeGraph(moment)(np.ones([64, 64]), np.ones([64, 64]))).overwritable).toEqual([[0, 1]]);
    const step = jit(moment, { donateArgnums: [0] });
    const g = random.normal(random.key(1), [64, 64]);
    let m = random.normal(random.key(0), [64, 64]);
    let expected = np.add(m, 0);
    const memory = (m as ConcreteArray).storage.buffer;
    for (let i = 0; i < 3; i++) {
      const old = m;
      m = step(m, g);
      expect(() => (old as ConcreteArray).storage).toThrow(/used after dispose/);
      expect((m as ConcreteArray).storage.buffer).toBe(memory);
      expected = moment(expected, g);
    }
    assertClose(m, expected, { rtol: 0, atol: 0 });
    // Memory a caller has seen is never written, in the same call or later.
    const seen = step(m, g);
    const mine = seen.view();
    const copy = Float32Array.from(mine);
    m = step(step(seen, g), g);
    expect(mine).toEqual(copy);
  });

  it('no output takes the memory of an input that a node not before it reads, or that an output views', () => {
    const lowered = (f: (a: Array, b: Array) => Array[]) =>
      onnx.lowerGraph(makeGraph(f)(np.ones([32, 32]), np.ones([32, 32]))).overwritable;
    // `a * 3` need not run before the add that writes the first output; the add reads b itself.
    expect(lowered((a, b) => [np.add(np.multiply(a, 2), b), np.multiply(a, 3)])).toEqual([[], []]);
    // The second output is a view of a: writing the first into a would change it.
    expect(lowered((a, b) => [np.add(np.multiply(a, 2), b), np.reshape(a, [1024])])).toEqual([[], []]);
    // Only inputs of the output's element type and size qualify.
    expect(lowered((a, b) => [np.sum(np.multiply(a, 2)), np.astype(np.multiply(b, 2), 'int32')])).toEqual([[], []]);
    // Donated anyway, both still compute what they should.
    const f = jit((a: Array, b: Array) => [np.add(np.multiply(a, 2), b), np.multiply(a, 3)], { donateArgnums: [0, 1] });
    const [a, b] = [random.normal(random.key(2), [32, 32]), random.normal(random.key(3), [32, 32])];
    const [want0, want1] = [np.add(np.multiply(a, 2), b), np.multiply(a, 3)];
    const [got0, got1] = f(a, b);
    assertClose(got0, want0, { rtol: 0, atol: 0 });
    assertClose(got1, want1, { rtol: 0, atol: 0 });
  });

  it('are the array leaves of the donated arguments only, behind static arguments and number leaves', () => {
    type Tree = { w: Array[]; n: number; b?: Array };
    const f = jit(
      (scale: number, kept: Tree, given: Tree) => np.add(np.multiply(given.w[1], scale * kept.n), kept.w[0]),
      {
        staticArgnums: [0],
        donateArgnums: [2],
      },
    );
    const tree = (seed: number): Tree => ({
      w: [random.normal(random.key(seed), [8]), random.normal(random.key(seed + 1), [8])],
      n: 3,
      b: random.normal(random.key(seed + 2), [2]),
    });
    for (const scale of [2, 5]) {
      const [kept, given] = [tree(0), tree(10)];
      const want = np.add(np.multiply(given.w[1], scale * 3), kept.w[0]);
      assertClose(f(scale, kept, given), want, { rtol: 0, atol: 0 });
      for (const x of [...given.w, given.b!]) expect(() => (x as ConcreteArray).storage).toThrow(/used after dispose/);
      for (const x of [...kept.w, kept.b!]) expect((x as ConcreteArray).storage.length).toBeGreaterThan(0);
    }
    expect(f.traceCount).toBe(2);
  });
});

describe("glibc's allocator", () => {
  // A fresh process imports Fluxion and mallocs 8 MiB: blocks that glibc maps afresh count in mallinfo2's hblks.
  const script =
    "import './src/index.ts'; import { createRequire } from 'node:module'; " +
    "const koffi = createRequire(import.meta.url)('koffi'); const libc = koffi.load('libc.so.6'); " +
    "const f = ['arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks', 'fsmblks', 'uordblks', 'fordblks', 'keepcost']; " +
    "koffi.struct('mallinfo2_t', Object.fromEntries(f.map((k) => [k, 'size_t']))); " +
    "const info = libc.func('mallinfo2_t mallinfo2()'), malloc = libc.func('void *malloc(size_t n)'); " +
    'const before = info().hblks; malloc(8 << 20); console.log(info().hblks > before);';
  const mapsAfresh = (env: Record<string, string>) =>
    spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    }).stdout.trim();

  it.runIf(process.platform === 'linux')(
    'importing Fluxion has glibc reuse freed blocks of up to 32 MiB instead of mapping each afresh (FLUXION_MALLOC=system: as glibc has it)',
    () => {
      expect(mapsAfresh({})).toBe('false');
      expect(mapsAfresh({ FLUXION_MALLOC: 'system' })).toBe('true'); // glibc maps blocks over 128 KiB
      expect(keepFreedMemory()).toBe(true);
    },
  );
  if (process.platform !== 'linux') console.log("glibc's allocator: not Linux, nothing to check");
});

describe('the lowering keeps graphs small', () => {
  it('a reshape of a reshape is one Reshape, a reshape to the same shape none, a scalar operand no Reshape', () => {
    const f = (x: Array) => np.multiply(np.reshape(np.reshape(np.reshape(x, [6, 4]), [2, 12]), [4, 6]), 2);
    const ops = opTypes(onnx.lowerGraph(makeGraph(f)(np.ones([4, 6]))).bytes);
    expect(ops).toEqual({ Mul: 1 });
    const g = (x: Array) => np.add(np.reshape(np.reshape(x, [24]), [2, 12]), 1);
    expect(opTypes(onnx.lowerGraph(makeGraph(g)(np.ones([4, 6]))).bytes)).toEqual({ Reshape: 1, Add: 1 });
    assertClose(jit(g)(np.arange(24).reshape([4, 6])), g(np.arange(24).reshape([4, 6])));
  });
});

describe('per-channel sums on small images', () => {
  it('lower as BatchNormalization, equal to eager for every pair of zeros, NaN and infinities; exports and large images keep Add', () => {
    // Every special value against every other, across channels and images.
    const sp = [-0, 0, 1.5, -2, NaN, Infinity, -Infinity];
    const c = sp.length;
    const xs: number[] = [];
    for (let n = 0; n < c; n++) for (let k = 0; k < c; k++) xs.push(sp[(n + k) % c], sp[n], sp[k], sp[(3 * n + k) % c]);
    const x = np.array(xs).reshape([c, c, 2, 2]);
    const b = np.array(sp);
    const sums = {
      'x + b': (x: Array, b: Array) => np.add(x, np.reshape(b, [1, c, 1, 1])),
      'b + x': (x: Array, b: Array) => np.add(np.reshape(b, [c, 1, 1]), x),
      'x - b': (x: Array, b: Array) => np.subtract(x, np.reshape(b, [1, c, 1, 1])),
    };
    for (const [name, f] of Object.entries(sums)) {
      expect(opTypes(onnx.lowerGraph(makeGraph(f)(x, b)).bytes).BatchNormalization, name).toBe(1);
      const [eager, compiled] = [f(x, b).dataSync(), jit(f)(x, b).dataSync()];
      expect(
        compiled.every((v, i) => Object.is(v, eager[i])),
        name,
      ).toBe(true);
      expect(opTypes(onnx.exportModel(f, [x, b])).BatchNormalization ?? 0, name).toBe(0);
    }
    const large = np.ones([1, c, 16, 16]);
    expect(opTypes(onnx.lowerGraph(makeGraph(sums['x + b'])(large, b)).bytes)).toEqual({ Reshape: 1, Add: 1 });
  });
});

describe('slices that tile an axis', () => {
  it('lower as one Split of their operand, and as Slices where they overlap, leave a gap or disagree', () => {
    const x = np.arange(24).reshape([2, 12]);
    const sliced =
      (...cuts: [number, number][]) =>
      (x: Array) =>
        cuts.map(([s, l], i) => np.multiply(np.slice(x, null, [s, l]), i + 1));
    const cases: [string, [number, number][], Record<string, number>][] = [
      [
        'tiling, out of order',
        [
          [5, 12],
          [0, 2],
          [2, 5],
        ],
        { Split: 1 },
      ],
      [
        'tiling, one piece read twice',
        [
          [0, 4],
          [4, 12],
          [0, 4],
        ],
        { Split: 1 },
      ],
      [
        'overlapping',
        [
          [0, 5],
          [4, 12],
        ],
        { Slice: 2 },
      ],
      [
        'with a gap',
        [
          [0, 4],
          [5, 12],
        ],
        { Slice: 2 },
      ],
      [
        'two ends from one start',
        [
          [0, 4],
          [0, 6],
          [4, 12],
          [6, 12],
        ],
        { Slice: 4 },
      ],
      ['one slice', [[2, 7]], { Slice: 1 }],
    ];
    for (const [name, cuts, want] of cases) {
      const f = sliced(...cuts);
      const ops = opTypes(onnx.lowerGraph(makeGraph(f)(x)).bytes);
      expect({ Split: ops.Split, Slice: ops.Slice }, name).toEqual({ Split: undefined, Slice: undefined, ...want });
      const [compiled, eager] = [jit(f)(x), f(x)];
      compiled.forEach((y, i) => expect([...y.dataSync()], `${name}, piece ${i}`).toEqual([...eager[i].dataSync()]));
    }
    // Consecutive pieces concatenated again are what they were split from (or one slice of it),
    // as are pieces packed into one output.
    const rejoined = (x: Array) => {
      const [a, b, c] = np.split(x, [2, 5], { axis: 1 });
      return [np.multiply(np.concatenate([a, b, c], { axis: 1 }), 2), np.concatenate([b, c], { axis: 1 }), a];
    };
    expect(opTypes(onnx.lowerGraph(makeGraph(rejoined)(x)).bytes)).toEqual({ Split: 1, Mul: 1, Slice: 1 });
    const packed = (x: Array) => np.split(x, [2, 5]).map((p) => np.reshape(p, [-1]));
    const flat = np.arange(12);
    expect(opTypes(onnx.lowerGraph(makeGraph(packed)(flat), { packBelow: 100 }).bytes)).toEqual({
      Identity: 1,
    });
    // Pieces of two splits alternating among the outputs (an optimizer's moments) are packed split by split.
    const alternating = (x: Array) => {
      const [a, b] = [np.split(np.multiply(x, 2), [2, 5]), np.split(np.multiply(x, 3), [2, 5])];
      return a.flatMap((p, i) => [p, b[i]]);
    };
    expect(opTypes(onnx.lowerGraph(makeGraph(alternating)(flat), { packBelow: 100 }).bytes)).toEqual({
      Mul: 2,
      Concat: 1,
    });
    for (const f of [rejoined, packed, alternating]) {
      const input = f === rejoined ? x : flat;
      const [compiled, eager] = [jit(f)(input), f(input)];
      compiled.forEach((y, i) => expect([...y.dataSync()], `piece ${i}`).toEqual([...eager[i].dataSync()]));
    }
    // The pieces of a concatenation's gradient: one Split of the cotangent.
    const g = grad((a: Array, b: Array) => np.sum(np.square(np.concatenate([a, b], { axis: 1 }))), { argnums: [0, 1] });
    const [a, b] = [random.normal(random.key(0), [2, 3]), random.normal(random.key(1), [2, 5])];
    expect(opTypes(onnx.lowerGraph(makeGraph(g)(a, b)).bytes).Split).toBe(1);
    (jit(g)(a, b) as Array[]).forEach((y, i) => assertClose(y, (g(a, b) as Array[])[i]));
  });
});

describe('persistent compilation cache', () => {
  const withCache = async (body: (dir: string, files: () => string[]) => void | Promise<void>) => {
    const { mkdtempSync, readdirSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(`${tmpdir()}/fluxion-cache-`);
    const previous = setCompilationCache(dir);
    try {
      await body(dir, () => readdirSync(dir).sort());
    } finally {
      expect(setCompilationCache(previous)).toBe(dir);
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const f = (w: Array, x: Array) => np.sum(np.tanh(np.matmul(x, w)));
  // Weights large enough to count as weights when constant (WEIGHTS_FROM in src/backend/onnx.ts).
  const w = random.normal(random.key(0), [32, 40]),
    x = random.normal(random.key(1), [3, 32]);

  it('a training step (weights as inputs) is kept as lowered, a graph with constant weights as ONNX Runtime optimised it; a second compilation loads either', () =>
    withCache((dir, files) => {
      const training = () => executionPlan(makeGraph(grad(f))(w, x));
      expect(training()).not.toContain('compilation cache');
      expect(files()).toEqual([
        expect.stringMatching(/^[0-9a-f]{64}\.json$/),
        expect.stringMatching(/^[0-9a-f]{64}\.onnx$/),
      ]);
      expect(training()).toContain('from the compilation cache');
      const constant = () => executionPlan(makeGraph(grad(f))(w, x), [w]);
      expect(constant()).not.toContain('compilation cache');
      expect(files().filter((n) => n.endsWith('.ort'))).toHaveLength(1);
      expect(constant()).toContain('from the compilation cache');
      expect(files()).toHaveLength(4);
      // Loaded from the cache (the jit's graph is the training one), the step computes what eager does.
      assertClose(jit(grad(f))(w, x), grad(f)(w, x));
      expect(files()).toHaveLength(4);
    }));

  it('small constants (a normalisation closed over) are not weights: such a training step is kept as lowered', () =>
    withCache((dir, files) => {
      const [mean, std] = [np.array([0.13]), np.array([0.31])];
      const normalised = (v: Array) => np.sum(np.tanh(np.matmul(np.divide(np.subtract(x, mean), std), v)));
      const g = jit(grad(normalised))(w);
      assertClose(g, grad(normalised)(w));
      expect(files().some((n) => n.endsWith('.onnx'))).toBe(true);
      expect(files().filter((n) => n.endsWith('.ort'))).toEqual([]);
    }));

  it("a graph that differs in a literal, a shape, a param or a constant value is compiled anew, never served another's model", () =>
    withCache((dir, files) => {
      const scaled = (k: number) => (x: Array) => np.multiply(np.exp(x), k);
      const xs = np.arange(6).reshape([2, 3]);
      const variants: [string, () => Array, () => Array][] = [
        ['literal 2', () => jit(scaled(2))(xs), () => scaled(2)(xs)],
        ['literal 3', () => jit(scaled(3))(xs), () => scaled(3)(xs)],
        ['literal -0', () => jit(scaled(-0))(np.negative(xs)), () => scaled(-0)(np.negative(xs))],
        ['literal 0', () => jit(scaled(0))(np.negative(xs)), () => scaled(0)(np.negative(xs))],
        ['another shape', () => jit(scaled(2))(xs.reshape([3, 2])), () => scaled(2)(xs.reshape([3, 2]))],
        ['a param', () => jit((x: Array) => np.sum(x, { axis: 0 }))(xs), () => np.sum(xs, { axis: 0 })],
        ['another param', () => jit((x: Array) => np.sum(x, { axis: 1 }))(xs), () => np.sum(xs, { axis: 1 })],
        // A composite (max pooling, lowered as ONNX MaxPool): its window shows in its decomposition.
        ...[2, 3].map((k): [string, () => Array, () => Array] => {
          const pool = (x: Array) => nn.functional.maxPool2d(x, { kernelSize: k, stride: 1 });
          const images = random.normal(random.key(2), [1, 2, 5, 5]);
          return [`max pool ${k}`, () => jit(pool)(images), () => pool(images)];
        }),
      ];
      for (const [label, jitted, eager] of variants) {
        const before = files().length;
        const a = jitted();
        expect(files().length, `${label} compiled anew`).toBeGreaterThan(before);
        const b = eager();
        expect(a.shape).toEqual(b.shape);
        expect(globalThis.Array.from(a.dataSync(), (v) => Object.is(v, -0))).toEqual(
          globalThis.Array.from(b.dataSync(), (v) => Object.is(v, -0)),
        );
        assertClose(a, b);
      }
      // Constant weights of other values: a model of their own.
      const plan = (v: Array) => executionPlan(makeGraph(grad(f))(v, x), [v]);
      const before = files().length;
      plan(w);
      plan(np.multiply(w, 2));
      expect(files()).toHaveLength(before + 4);
      expect(plan(np.multiply(w, 2))).toContain('from the compilation cache');
    }));

  it('a corrupt entry is compiled again and replaced; a graph holding a function is not kept; an unwritable cache is no cache', () =>
    withCache(async (dir, files) => {
      const { readFileSync, writeFileSync } = await import('node:fs');
      const plan = () => executionPlan(makeGraph(grad(f))(w, x));
      plan();
      const model = files().find((n) => n.endsWith('.onnx'))!;
      writeFileSync(`${dir}/${model}`, 'not a model');
      expect(plan()).not.toContain('compilation cache');
      expect(plan()).toContain('from the compilation cache');
      // Not JSON, JSON of another shape, and an entry of the right shape for another graph.
      const info = `${dir}/${model.replace('.onnx', '.json')}`;
      const empty = { inputs: [], outputs: [], outputShapes: [], packedOutputs: [], overwritable: [] };
      const entry = JSON.parse(readFileSync(info, 'utf8'));
      const elsewhere = JSON.stringify({ ...entry, overwritable: entry.overwritable.map(() => [7]) });
      for (const text of ['{ not json', '{"inputs": 3}', JSON.stringify(empty), elsewhere]) {
        writeFileSync(info, text);
        expect(plan()).not.toContain('compilation cache');
        expect(plan()).toContain('from the compilation cache');
      }
      // A custom rule is a function the cache cannot key: its graph compiles every time, correctly.
      const softplus = customJvp(
        (x: Array) => np.log1p(np.exp(x)),
        ([p], [t]) => [np.log1p(np.exp(p)), np.multiply(t, np.sigmoid(p))],
      );
      const before = files();
      assertClose(jit(softplus)(x), np.log1p(np.exp(x)));
      expect(files()).toEqual(before);
      // A cache that cannot be written (here: under a file) is no cache: the graph still compiles to a session.
      writeFileSync(`${dir}/a-file`, '');
      setCompilationCache(`${dir}/a-file/cache`);
      expect(plan()).toMatch(/^step 0: onnx session of \d+ equations \(2 inputs, 1 outputs\)$/);
      setCompilationCache(dir);
    }));

  it('a second process compiles nothing: the same program finds every session in the cache', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(`${tmpdir()}/fluxion-cache-`);
    const script =
      "import { executionPlan, grad, makeGraph, np, random } from './src/index.ts'; " +
      'const f = (w, x) => np.sum(np.tanh(np.matmul(x, w))); ' +
      'const w = random.normal(random.key(0), [4, 5]), x = random.normal(random.key(1), [3, 4]); ' +
      'console.log(JSON.stringify(executionPlan(makeGraph(grad(f))(w, x))));';
    const run = () => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        env: { ...process.env, FLUXION_BACKEND: '', FLUXION_CACHE_DIR: dir },
        encoding: 'utf8',
      });
      expect(r.status, r.stderr.slice(-1000)).toBe(0);
      return JSON.parse(r.stdout.trim().split('\n').pop()!) as string;
    };
    try {
      expect(run()).not.toContain('compilation cache');
      expect(run()).toContain('from the compilation cache');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("convolutions on ONNX Runtime's blocked (NCHWc) kernels", () => {
  const conv = (x: Array, w: Array) => nn.functional.conv2d(x, w, null, { padding: 1 });
  const cases: [string, number[], number[]][] = [
    ['blocked input (channels a multiple of the block)', [4, 32, 16, 16], [32, 32, 3, 3]],
    ['plain input (fewer channels than a block)', [2, 3, 16, 16], [16, 3, 3, 3]],
  ];
  for (const [label, xs, ws] of cases) {
    it(`${label}: equal to the JavaScript kernels, forward and gradients`, () => {
      const x = random.normal(random.key(0), xs),
        w = random.normal(random.key(1), ws);
      const loss = (x: Array, w: Array) => np.sum(np.tanh(conv(x, w)));
      const got = tree.leaves(jit(valueAndGrad(loss, { argnums: [0, 1] }))(x, w));
      const want = tree.leaves(valueAndGrad(loss, { argnums: [0, 1] })(x, w));
      got.forEach((g, i) => assertClose(g as Array, want[i] as Array));
    });
  }
  // A stride-1 convolution's input gradient runs as a blocked Conv with the filter flipped.
  const inputGradCases: [string, number[], number[], ConvOptions][] = [
    ['3x3, padding 1', [2, 16, 16, 16], [8, 16, 3, 3], { padding: 1 }],
    ['1x1 (nothing to flip)', [2, 16, 16, 16], [16, 16, 1, 1], {}],
    ['3x3 dilated by 2, padding 1', [2, 8, 18, 18], [16, 8, 3, 3], { padding: 1, dilation: 2 }],
    ['2x3, padding same (uneven: [0, 1] and [1, 1])', [2, 8, 16, 16], [16, 8, 2, 3], { padding: 'same' }],
    ['3x3 from 4 channels (a plain NCHW filter)', [2, 8, 16, 16], [4, 8, 3, 3], { padding: 1 }],
    ['3x3, padding 3 (beyond the window: ConvTranspose)', [2, 8, 16, 16], [16, 8, 3, 3], { padding: 3 }],
    ['3x3, stride 2 (ConvTranspose)', [2, 8, 32, 32], [16, 8, 3, 3], { padding: 1, stride: 2 }],
  ];
  for (const [label, xs, ws, options] of inputGradCases) {
    it(`input gradient, ${label}: equal to the JavaScript kernels`, () => {
      const [x, w] = [random.normal(random.key(2), xs), random.normal(random.key(3), ws)];
      const dx = (x: Array, w: Array) =>
        grad((xv: Array) => np.sum(np.sin(nn.functional.conv2d(xv, w, null, options))))(x);
      const lowered = opTypes(onnx.lowerGraph(makeGraph(dx)(x, w), { nchwcBlock: 8 }).bytes);
      const flipped = !/ConvTranspose/.test(label);
      expect(lowered.ConvTranspose ?? 0).toBe(flipped ? 0 : 1);
      expect(lowered.Gather ?? 0).toBe(flipped && ws[2] * ws[3] > 1 ? 1 : 0);
      assertClose(jit(dx)(x, w), dx(x, w), { rtol: 1e-4, atol: 1e-4 });
    });
  }
  it('strided unfolds split the planes into phases (SpaceToDepth) and slice them contiguously, equal to eager', () => {
    const cases: [number[], UnfoldParams][] = [
      [
        [2, 3, 9, 9],
        {
          window: [3, 3],
          strides: [2, 2],
          padding: [
            [1, 1],
            [1, 1],
          ],
          dilation: [1, 1],
          padValue: -Infinity,
        },
      ],
      [
        [1, 2, 10, 7],
        {
          window: [2, 3],
          strides: [3, 3],
          padding: [
            [0, 2],
            [1, 0],
          ],
          dilation: [2, 1],
          padValue: 0,
        },
      ],
      [
        [4, 8, 8],
        {
          window: [3, 2],
          strides: [2, 2],
          padding: [
            [2, 1],
            [0, 1],
          ],
          dilation: [1, 3],
          padValue: 0.5,
        },
      ],
    ];
    for (const [shape, p] of cases)
      for (const dtype of ['float32', 'float64', 'int32'] as const) {
        const x = np.astype(np.multiply(random.normal(random.key(9), shape), 10), dtype);
        const f = (v: Array) => lax.unfold(v, p);
        const ops = opTypes(onnx.lowerGraph(makeGraph(f)(x)).bytes);
        expect(ops.SpaceToDepth ?? 0).toBe(dtype === 'int32' ? 0 : 1);
        expect(jit(f)(x).toArray()).toEqual(f(x).toArray());
      }
  });
  it('folds (pooling gradients) are Col2Im in float32 and a one-hot ConvTranspose in float64, both equal to eager', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const x = random.normal(random.key(8), [2, 3, 9, 9], { dtype });
      const dx = grad((v: Array) =>
        np.sum(np.sin(nn.functional.maxPool2d(v, { kernelSize: 3, stride: 2, padding: 1 }))),
      );
      const ops = opTypes(onnx.lowerGraph(makeGraph(dx)(x)).bytes);
      expect([ops.Col2Im ?? 0, ops['ConvTranspose(one-hot)'] ?? 0]).toEqual(dtype === 'float32' ? [1, 0] : [0, 1]);
      assertClose(jit(dx)(x), dx(x), { rtol: 1e-6, atol: 1e-6 });
    }
  });
  it('input gradients over many small images are one batched product and a Col2Im, without transposes of the batch, equal to eager', () => {
    // LeNet-5's conv2 at batch 64: no blocked form (6 output channels), ConvTranspose runs image by image.
    for (const [images, via] of [
      [16, 'MatMul'],
      [8, 'ConvTranspose'],
    ] as const) {
      const [x, w] = [random.normal(random.key(10), [images, 6, 14, 14]), random.normal(random.key(11), [16, 6, 5, 5])];
      const dx = (x: Array, w: Array) => grad((v: Array) => np.sum(np.sin(nn.functional.conv2d(v, w))))(x);
      const ops = opTypes(onnx.lowerGraph(makeGraph(dx)(x, w), { nchwcBlock: 16 }).bytes);
      expect([ops.MatMul ?? 0, ops.Col2Im ?? 0, ops.ConvTranspose ?? 0]).toEqual(
        via === 'MatMul' ? [1, 1, 0] : [0, 0, 1],
      );
      // No transposes of the cotangent or the patches: only the filter's, which the forward pass shares.
      const forward = (x: Array, w: Array) => np.sum(np.sin(nn.functional.conv2d(x, w)));
      const forwardOps = opTypes(onnx.lowerGraph(makeGraph(forward)(x, w), { nchwcBlock: 16 }).bytes);
      expect(ops.Transpose ?? 0).toBe(forwardOps.Transpose ?? 0);
      assertClose(jit(dx)(x, w), dx(x, w), { rtol: 1e-4, atol: 1e-4 });
    }
  });
  it('filter gradients whose columns would not fit in cache are one group per image, summed over the batch', () => {
    // LeNet-5's conv1 at batch 64 (1.25M floats of columns) against its conv2 at batch 8 (small ones).
    for (const [xs, ws, padding, groups] of [
      [[64, 1, 28, 28], [6, 1, 5, 5], 2, 64],
      [[8, 6, 14, 14], [16, 6, 5, 5], 0, 1],
    ] as const) {
      const [x, w] = [random.normal(random.key(12), [...xs]), random.normal(random.key(13), [...ws])];
      const dw = (x: Array, w: Array) =>
        grad((v: Array) => np.sum(np.sin(nn.functional.conv2d(x, v, null, { padding }))))(w);
      const nodes = fromBinary(ModelProtoSchema, onnx.lowerGraph(makeGraph(dw)(x, w), { nchwcBlock: 16 }).bytes).graph!
        .node;
      const convGroups = nodes
        .filter((n) => n.opType === 'Conv')
        .map((n) => Number(n.attribute.find((a) => a.name === 'group')?.i ?? 1n));
      expect(convGroups.includes(xs[0])).toBe(groups > 1); // the filter gradient's Conv, one group per image
      assertClose(jit(dw)(x, w), dw(x, w), { rtol: 1e-4, atol: 1e-3 });
    }
  });
  it('filter gradients with few positions but long dot products run blocked when the batch fills whole blocks', () => {
    // LeNet-5's conv2: 6 channels x 25 taps = 150 positions, each a dot product over 64 images of
    // 10x10 (blocked), against 8 images (not whole blocks of 16: a plain Conv).
    for (const batch of [64, 8]) {
      const [x, w] = [random.normal(random.key(14), [batch, 6, 14, 14]), random.normal(random.key(15), [16, 6, 5, 5])];
      const dw = (x: Array, w: Array) => grad((v: Array) => np.sum(np.sin(nn.functional.conv2d(x, v))))(w);
      const ops = opTypes(onnx.lowerGraph(makeGraph(dw)(x, w), { nchwcBlock: 16 }).bytes);
      expect(ops.ReorderInput ?? 0).toBe(batch === 64 ? 1 : 0);
      assertClose(jit(dw)(x, w), dw(x, w), { rtol: 1e-4, atol: 1e-3 });
    }
  });
  it("a 1x1 convolution's filter gradient is one Gemm (float32 and float64, strided too), padded ones stay convolutions", () => {
    for (const dtype of ['float32', 'float64'] as const)
      for (const [stride, padding] of [
        [1, 0],
        [2, 0],
        [3, 0], // 8 pixels at stride 3: the last one unused
        [2, 1],
      ]) {
        const [x, w] = [
          random.normal(random.key(4), [3, 16, 8, 8], { dtype }),
          random.normal(random.key(5), [24, 16, 1, 1], { dtype }),
        ];
        const dw = (x: Array, w: Array) =>
          grad((wv: Array) => np.sum(np.sin(nn.functional.conv2d(x, wv, null, { stride, padding }))))(w);
        const lowered = opTypes(onnx.lowerGraph(makeGraph(dw)(x, w), { nchwcBlock: 8 }).bytes);
        expect([lowered.Gemm ?? 0, lowered.Conv ?? 0]).toEqual(padding === 0 ? [1, 1] : [0, 2]);
        assertClose(jit(dw)(x, w), dw(x, w), { rtol: dtype === 'float64' ? 1e-12 : 1e-4, atol: 1e-4 });
      }
    // Per-example filter gradients (vmap) too.
    const [xs, w] = [random.normal(random.key(6), [4, 2, 16, 8, 8]), random.normal(random.key(7), [24, 16, 1, 1])];
    const perExample = vmap((x: Array) => grad((wv: Array) => np.sum(np.sin(nn.functional.conv2d(x, wv))))(w));
    assertClose(jit(perExample)(xs), perExample(xs), { rtol: 1e-4, atol: 1e-4 });
  });
  it('the lowering reorders filters in the graph for a given block size, and exports stay portable', () => {
    const g = makeGraph(conv)(np.ones([2, 16, 16, 16]), np.ones([32, 16, 3, 3]));
    expect(opTypes(onnx.lowerGraph(g, { nchwcBlock: 16 }).bytes)).toMatchObject({
      ReorderInput: 1,
      Conv: 1,
      ReorderOutput: 1,
    });
    const nodes = fromBinary(ModelProtoSchema, onnx.lowerGraph(g).bytes).graph!.node;
    expect(nodes.filter((n) => n.domain !== '')).toEqual([]);
    // Too few output positions for the filter's reordering to pay: a plain Conv.
    const small = makeGraph(conv)(np.ones([1, 16, 4, 4]), np.ones([32, 16, 3, 3]));
    expect(opTypes(onnx.lowerGraph(small, { nchwcBlock: 16 }).bytes).ReorderInput).toBeUndefined();
  });
});
