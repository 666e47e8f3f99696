// ONNX import: the node conformance suite (a floor that may only rise), exported models read
// back, transforms through imported models, and hostile files refused clearly.
import { existsSync, readFileSync } from 'node:fs';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { type Array, grad, jit, models, nn, np, onnx, optim, random, vmap } from '../src/index.js';
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  TensorProtoSchema,
  TensorProto_DataType as T,
} from '../src/onnx/generated/onnx_pb.js';
import { assertClose } from '../laws/index.js';
import { DATA_ERRATA, NODE_TESTS, runConformance, summarize } from '../scripts/onnx-conformance.js';
import { exportedModels, f32 } from './onnx-models.js';

/** Passing conformance tests when this floor was set; raise it when more pass, never lower it. */
const CONFORMANCE_FLOOR = 901;

describe('ONNX conformance (libonnx-testdata node tests)', () => {
  it(`passes at least ${CONFORMANCE_FLOOR} tests and computes no wrong answer`, (ctx) => {
    const results = runConformance();
    if (!results) {
      if (process.env.CI) throw new Error(`CI=true but ${NODE_TESTS} is missing (apt-get install libonnx-testdata)`);
      console.log(`ONNX conformance skipped: ${NODE_TESTS} is missing (apt-get install libonnx-testdata)`);
      return ctx.skip();
    }
    console.log(summarize(results).split('\n').at(-1));
    const failures = results.filter((r) => r.outcome === 'fail');
    expect(failures.map((f) => `${f.test}: ${f.why}`)).toEqual([]);
    // Tests whose data contradicts their model still fail so (a fixed data package would pass them).
    const errata = results.filter((r) => r.outcome === 'erratum').map((r) => r.test);
    expect(errata.sort()).toEqual(Object.keys(DATA_ERRATA).sort());
    expect(results.filter((r) => r.outcome === 'pass').length).toBeGreaterThanOrEqual(CONFORMANCE_FLOOR);
    // Bernoulli and training-mode Dropout run; their values come from another generator (see below).
    expect(results.filter((r) => r.outcome === 'random').length).toBeGreaterThanOrEqual(10);
  });
});

describe('random operators draw from a key', () => {
  const floatAttr = (name: string, f: number) =>
    create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.FLOAT, f });
  const intsAttr = (name: string, ints: number[]) =>
    create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INTS, ints: ints.map(BigInt) });
  const intAttr = (name: string, i: number) =>
    create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INT, i: BigInt(i) });
  /** A one-node model `y = op(x?)`. */
  const model = (op: string, attribute: ReturnType<typeof floatAttr>[], withInput: number[] | null) =>
    onnx.load(
      toBinary(
        ModelProtoSchema,
        create(ModelProtoSchema, {
          irVersion: 8n,
          opsetImport: [{ domain: '', version: 18n }],
          graph: create(GraphProtoSchema, {
            name: 'g',
            node: [create(NodeProtoSchema, { opType: op, input: withInput ? ['x'] : [], output: ['y'], attribute })],
            input: withInput ? [f32('x', withInput)] : [],
            output: [f32('y', [])],
          }),
        }),
      ),
    );
  const stats = (a: Array) => {
    const v = globalThis.Array.from(a.dataSync(), Number);
    const mean = v.reduce((s, x) => s + x, 0) / v.length;
    return { mean, std: Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length), min: Math.min(...v) };
  };
  const n = 20000;

  it('RandomNormal and RandomUniform: their distributions, one stream per key, seeds without a key', () => {
    const normal = model('RandomNormal', [intsAttr('shape', [n]), floatAttr('mean', 3), floatAttr('scale', 2)], null);
    const [a] = normal.fn(normal.params, { key: random.key(0) });
    const s = stats(a);
    expect(Math.abs(s.mean - 3)).toBeLessThan(0.06); // 4 standard errors
    expect(Math.abs(s.std - 2)).toBeLessThan(0.05);
    expect(normal.fn(normal.params, { key: random.key(0) })[0].toArray()).toEqual(a.toArray());
    expect(normal.fn(normal.params, { key: random.key(1) })[0].toArray()).not.toEqual(a.toArray());
    expect(() => normal.fn(normal.params)).toThrow(/RandomNormal\): the model draws random numbers: pass a key/);
    const seeded = model('RandomUniform', [intsAttr('shape', [n]), floatAttr('low', -1), floatAttr('seed', 5)], null);
    const [u] = seeded.fn(seeded.params);
    expect(seeded.fn(seeded.params)[0].toArray()).toEqual(u.toArray());
    const su = stats(u);
    expect(su.min).toBeGreaterThanOrEqual(-1);
    expect(Math.abs(su.mean)).toBeLessThan(0.025);
    const like = model('RandomUniformLike', [intAttr('dtype', 11)], [2, 3]); // float64
    const [l] = like.fn(like.params, np.zeros([2, 3]), { key: random.key(2) });
    expect([l.shape, l.dtype]).toEqual([[2, 3], 'float64']);
  });

  it('Bernoulli and Multinomial sample their probabilities, under jit with a traced key', () => {
    const bern = model('Bernoulli', [], [n]);
    const p = np.full([n], 0.3);
    const b = jit((k: Array) => bern.fn(bern.params, p, { key: k })[0])(random.key(3));
    expect(Math.abs(stats(b).mean - 0.3)).toBeLessThan(0.015);
    const multi = model('Multinomial', [intAttr('sample_size', n)], [1, 3]);
    const [draws] = multi.fn(multi.params, np.log(np.array([[0.2, 0.5, 0.3]])), { key: random.key(4) });
    expect([draws.shape, draws.dtype]).toEqual([[1, n], 'int32']);
    const counts = [0, 1, 2].map((c) => np.mean(np.equal(draws, c)).item());
    counts.forEach((f, c) => expect(Math.abs(f - [0.2, 0.5, 0.3][c])).toBeLessThan(0.015));
  });
});

describe('exported models import back', () => {
  for (const [name, make] of exportedModels) {
    it(`${name}: same outputs, and the same input gradient`, () => {
      const { layer, shape } = make();
      const init = layer.init(random.key(0), shape);
      const x = random.normal(random.key(1), shape);
      const predict = (x: Array) => layer.apply(init.params, init.state, x).y;
      const m = onnx.load(onnx.exportModel(predict, [x], { inputNames: ['x'], outputNames: ['y'] }));
      expect(m.inputs).toEqual([{ name: 'x', shape, elemType: 'float' }]);
      assertClose(m.fn(m.params, x)[0], predict(x), { rtol: 1e-4, atol: 1e-5 });
      const viaImport = grad((x: Array) => np.sum(np.square(m.fn(m.params, x)[0])))(x);
      const viaModel = grad((x: Array) => np.sum(np.square(predict(x))))(x);
      assertClose(viaImport, viaModel, { rtol: 1e-3, atol: 1e-4 });
    });
  }

  it("an exported gradient's Col2Im (a pooling gradient's fold) imports back; malformed columns are refused", () => {
    const x = random.normal(random.key(4), [2, 3, 9, 9]);
    const dx = grad((v: Array) => np.sum(np.sin(nn.functional.maxPool2d(v, { kernelSize: 3, stride: 2, padding: 1 }))));
    const bytes = onnx.exportModel(dx, [x]);
    expect(fromBinary(ModelProtoSchema, bytes).graph!.node.some((n) => n.opType === 'Col2Im')).toBe(true);
    const m = onnx.load(bytes);
    assertClose(m.fn(m.params, x)[0], dx(x), { rtol: 1e-6, atol: 1e-6 });
    // An image shape that the columns do not cover: a FluxionError naming the shapes.
    const ints = (name: string, v: number[]) =>
      create(TensorProtoSchema, { name, dataType: T.INT64, dims: [BigInt(v.length)], int64Data: v.map(BigInt) });
    const col2im = (image: number[]) =>
      onnx.load(
        toBinary(
          ModelProtoSchema,
          create(ModelProtoSchema, {
            irVersion: 8n,
            opsetImport: [{ domain: '', version: 18n }],
            graph: create(GraphProtoSchema, {
              name: 'g',
              input: [f32('x', [2, 27, 16])],
              output: [f32('y', [])],
              initializer: [ints('image', image), ints('block', [3, 3])],
              node: [create(NodeProtoSchema, { opType: 'Col2Im', input: ['x', 'image', 'block'], output: ['y'] })],
            }),
          }),
        ),
      );
    const columns = random.normal(random.key(5), [2, 27, 16]);
    const ok = col2im([6, 6]); // 4x4 blocks of 3x3 over a 6x6 image
    expect(ok.fn(ok.params, columns)[0].shape).toEqual([2, 3, 6, 6]);
    expect(() => col2im([11, 11]).fn({}, columns)).toThrow(
      /Col2Im.*\(2, 27, 16\) is not \[N, C \* 9, 81\] columns of blocks \(3, 3\) over image \(11, 11\)/,
    );
  });
  it('an imported model is an ordinary function: jit, vmap, and fine-tuning its params with an optimizer', () => {
    const layer = models.lenet5();
    const init = layer.init(random.key(2), [1, 1, 28, 28]);
    const x = random.normal(random.key(3), [4, 1, 28, 28]);
    // Exported for one image; vmap runs it over a batch.
    const m = onnx.load(
      onnx.exportModel((x: Array) => layer.apply(init.params, init.state, x).y, [np.zeros([1, 1, 28, 28])]),
    );
    const logits = (p: Record<string, Array>) =>
      np.squeeze(vmap((xi: Array) => m.fn(p, np.expandDims(xi, 0))[0])(x), { axis: 1 });
    assertClose(logits(m.params), layer.apply(init.params, init.state, x).y, { rtol: 1e-4, atol: 1e-5 });
    assertClose(jit(logits)(m.params), logits(m.params), { rtol: 1e-4, atol: 1e-5 });
    const target = np.array([0, 1, 2, 3], { dtype: 'int32' });
    const loss = (p: Record<string, Array>) => nn.softmaxCrossEntropy(logits(p), target);
    const opt = optim.adam(1e-2);
    let params = m.params,
      state = opt.init(params);
    const step = jit((p: Record<string, Array>, s: unknown) => {
      const g = grad(loss)(p);
      const { updates, state: next } = opt.update(g, s as never, p);
      return { p: optim.applyUpdates(p, updates) as Record<string, Array>, s: next };
    });
    const before = loss(params).item();
    for (let i = 0; i < 20; i++) ({ p: params, s: state } = step(params, state) as never);
    expect(loss(params).item()).toBeLessThan(before * 0.5);
    expect(Object.keys(params).sort()).toEqual(Object.keys(m.params).sort());
  });
});

describe('control flow maps to lax', () => {
  const node = (
    op: string,
    input: string[],
    output: string[],
    attribute: ReturnType<typeof create<typeof AttributeProtoSchema>>[] = [],
  ) => create(NodeProtoSchema, { opType: op, input, output, attribute });
  const graphAttr = (name: string, g: ReturnType<typeof create<typeof GraphProtoSchema>>) =>
    create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.GRAPH, g });
  const intAttr = (name: string, i: number) =>
    create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INT, i: BigInt(i) });
  const build = (
    nodes: ReturnType<typeof node>[],
    inputs = [f32('x', [3])],
    initializer: ReturnType<typeof create<typeof TensorProtoSchema>>[] = [],
  ) =>
    onnx.load(
      toBinary(
        ModelProtoSchema,
        create(ModelProtoSchema, {
          irVersion: 8n,
          opsetImport: [{ domain: '', version: 18n }],
          graph: create(GraphProtoSchema, {
            name: 'g',
            node: nodes,
            input: inputs,
            output: [f32('y', [3])],
            initializer,
          }),
        }),
      ),
    );

  it('sequences are lists of arrays inside a model: jit and grad pass through them', () => {
    const m = build([
      node('SplitToSequence', ['x'], ['parts']),
      node('SequenceErase', ['parts'], ['head']),
      node('SequenceInsert', ['head', 'x'], ['more']),
      node('ConcatFromSequence', ['more'], ['y'], [intAttr('axis', 0)]),
    ]);
    const x = np.array([1, 2, 3]);
    // [1] and [2] (the last element erased), then all of x: [1, 2, 1, 2, 3].
    expect(m.fn(m.params, x)[0].toArray()).toEqual([1, 2, 1, 2, 3]);
    const loss = (v: Array) => np.sum(np.square(m.fn(m.params, v)[0]));
    assertClose(jit(grad(loss))(x), np.array([4, 8, 6]));
  });

  it('models with sequence or optional inputs run through `values`; `fn` points there', () => {
    const file = `${NODE_TESTS}/test_sequence_insert_at_back/model.onnx`;
    if (!existsSync(file)) return console.log(`skipped: ${file} is missing (libonnx-testdata)`);
    const m = onnx.load(readFileSync(file));
    expect(m.inputs[0].elemType).toMatch(/^sequence\(/);
    expect(() => m.fn(m.params, np.zeros([1]))).toThrow(/call `values`/);
    const [out] = m.values(m.params, [np.array([1, 2]), np.array([3])], np.array([4, 5]));
    expect((out as Array[]).map((a) => a.toArray())).toEqual([[1, 2], [3], [4, 5]]);
    expect(() => m.values(m.params, np.zeros([1]), np.zeros([1]))).toThrow(/must be a sequence/);
  });

  it('If with a traced condition is lax.cond: jit and grad take the branch the data picks', () => {
    const branch = (op: string) =>
      create(GraphProtoSchema, { name: op, node: [node(op, ['x'], ['out'])], output: [f32('out', [3])] });
    const m = build(
      [
        node('ReduceSum', ['x'], ['s'], [intAttr('keepdims', 0)]),
        node('Greater', ['s', 'zero'], ['c']),
        node('If', ['c'], ['y'], [graphAttr('then_branch', branch('Exp')), graphAttr('else_branch', branch('Neg'))]),
      ],
      [f32('x', [3])],
      [create(TensorProtoSchema, { name: 'zero', dims: [], dataType: T.FLOAT, floatData: [0] })],
    );
    const f = jit((x: Array) => m.fn(m.params, x)[0]);
    const pos = np.array([1, 2, 3]),
      neg = np.array([-1, -2, -3]);
    assertClose(f(pos), np.exp(pos));
    assertClose(f(neg), np.negative(neg));
    assertClose(grad((x: Array) => np.sum(m.fn(m.params, x)[0]))(pos), np.exp(pos));
    assertClose(jit(grad((x: Array) => np.sum(m.fn(m.params, x)[0])))(neg), np.full([3], -1));
  });

  it('Loop without scan outputs is lax.whileLoop; Scan is lax.scan (differentiable)', () => {
    // y = x * 2^3 by a Loop of three doublings (trip count from an initializer).
    const body = create(GraphProtoSchema, {
      name: 'body',
      input: [f32('i', []), f32('cin', []), f32('v', [3])],
      output: [f32('cout', []), f32('v2', [3])],
      node: [node('Identity', ['cin'], ['cout']), node('Add', ['v', 'v'], ['v2'])],
    });
    const trips = create(TensorProtoSchema, { name: 'n', dims: [], dataType: T.INT64, int64Data: [3n] });
    const loop = build([node('Loop', ['n', '', 'x'], ['y'], [graphAttr('body', body)])], [f32('x', [3])], [trips]);
    assertClose(jit((x: Array) => loop.fn(loop.params, x)[0])(np.array([1, 2, 3])), np.array([8, 16, 24]));
    // A running sum over the rows of x [4, 3] as a Scan: the state is the final sum.
    const sumBody = create(GraphProtoSchema, {
      name: 'sum',
      input: [f32('acc', [3]), f32('row', [3])],
      output: [f32('acc2', [3]), f32('copy', [3])],
      node: [node('Add', ['acc', 'row'], ['acc2']), node('Identity', ['acc2'], ['copy'])],
    });
    const m = onnx.load(
      toBinary(
        ModelProtoSchema,
        create(ModelProtoSchema, {
          irVersion: 8n,
          opsetImport: [{ domain: '', version: 18n }],
          graph: create(GraphProtoSchema, {
            name: 'g',
            input: [f32('init', [3]), f32('xs', [4, 3])],
            output: [f32('y', [3]), f32('partial', [4, 3])],
            node: [
              node(
                'Scan',
                ['init', 'xs'],
                ['y', 'partial'],
                [graphAttr('body', sumBody), intAttr('num_scan_inputs', 1)],
              ),
            ],
          }),
        }),
      ),
    );
    const xs = random.normal(random.key(5), [4, 3]);
    const [total, partial] = m.fn(m.params, np.zeros([3]), xs);
    assertClose(total, np.sum(xs, { axis: 0 }));
    assertClose(partial, np.cumsum(xs, { axis: 0 }));
    assertClose(
      grad((x: Array) => np.sum(np.square(m.fn(m.params, np.zeros([3]), x)[0])))(xs),
      np.broadcastTo(np.multiply(np.sum(xs, { axis: 0 }), 2), [4, 3]),
      { rtol: 1e-4, atol: 1e-5 },
    );
  });
});

describe('hostile ONNX files are refused clearly', () => {
  const model = (
    nodes: { op: string; ins: string[]; outs: string[]; domain?: string }[],
    extra: { initializer?: ReturnType<typeof create<typeof TensorProtoSchema>>[] } = {},
  ) =>
    toBinary(
      ModelProtoSchema,
      create(ModelProtoSchema, {
        irVersion: 8n,
        opsetImport: [{ domain: '', version: 18n }],
        graph: create(GraphProtoSchema, {
          name: 'g',
          input: [f32('x', [2])],
          output: [f32('y', [2])],
          initializer: extra.initializer ?? [],
          node: nodes.map((n) =>
            create(NodeProtoSchema, { opType: n.op, input: n.ins, output: n.outs, domain: n.domain ?? '' }),
          ),
        }),
      }),
    );
  const good = model([{ op: 'Relu', ins: ['x'], outs: ['y'] }]);

  it('imports the well-formed model these are made from', () => {
    const m = onnx.load(good);
    expect(m.fn(m.params, np.array([-1, 2]))[0].toArray()).toEqual([0, 2]);
  });
  it('truncated or corrupt bytes, and non-bytes', () => {
    expect(() => onnx.load(good.slice(0, good.length - 3))).toThrow(onnx.OnnxImportError);
    expect(() => onnx.load(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f]))).toThrow(/not a valid ONNX model/);
    expect(() => onnx.load('model.onnx' as never)).toThrow(/expected the bytes/);
  });
  it('unknown operators and domains, undefined inputs and cycles, name the node', () => {
    expect(() => onnx.load(model([{ op: 'Frobnicate', ins: ['x'], outs: ['y'] }]))).toThrow(
      /node 0 \(Frobnicate\): operator Frobnicate is not supported/,
    );
    expect(() => onnx.load(model([{ op: 'Relu', ins: ['x'], outs: ['y'], domain: 'com.example' }]))).toThrow(
      /domain 'com.example' is not supported/,
    );
    expect(() => onnx.load(model([{ op: 'Add', ins: ['x', 'ghost'], outs: ['y'] }]))).toThrow(
      /input 'ghost' is not defined before it/,
    );
    expect(() =>
      onnx.load(
        model([
          { op: 'Relu', ins: ['b'], outs: ['a'] },
          { op: 'Relu', ins: ['a'], outs: ['b'] },
          { op: 'Identity', ins: ['a'], outs: ['y'] },
        ]),
      ),
    ).toThrow(/input 'b' is not defined before it/);
  });
  it('tensors whose declared size exceeds their data, or whose dimensions overflow, before allocating', () => {
    const short = create(TensorProtoSchema, {
      name: 'w',
      dims: [1000n],
      dataType: T.FLOAT,
      rawData: new Uint8Array(8),
    });
    expect(() => onnx.load(model([{ op: 'Add', ins: ['x', 'w'], outs: ['y'] }], { initializer: [short] }))).toThrow(
      /initializer 'w': declares 1000 elements \(\[1000\]\) but holds 8 bytes/,
    );
    const huge = create(TensorProtoSchema, { name: 'w', dims: [1n << 40n, 1n << 40n], dataType: T.FLOAT });
    expect(() => onnx.load(model([{ op: 'Add', ins: ['x', 'w'], outs: ['y'] }], { initializer: [huge] }))).toThrow(
      /exceed the limit/,
    );
    const negative = create(TensorProtoSchema, { name: 'w', dims: [-2n], dataType: T.FLOAT });
    expect(() => onnx.load(model([{ op: 'Add', ins: ['x', 'w'], outs: ['y'] }], { initializer: [negative] }))).toThrow(
      /dimension -2 is not a non-negative integer/,
    );
  });
  it('int64 values beyond int32 are an error, never wrapped', () => {
    const big = create(TensorProtoSchema, { name: 'k', dims: [1n], dataType: T.INT64, int64Data: [1n << 40n] });
    expect(() => onnx.load(model([{ op: 'Identity', ins: ['x'], outs: ['y'] }], { initializer: [big] }))).toThrow(
      /value 1099511627776 does not fit int32/,
    );
  });
});
