// Every layer and model through the layer laws from one table, plus behaviour checks.
import { describe, expect, it } from 'vitest';
import { type Array, ShapeDtype, grad, jit, jvp, makeGraph, models, nn, np, random, vmap } from '../src/index.js';
import { applyIsPure, deterministicGivenKey, initShapeMatchesApply, stateRoundTrips } from '../laws/layer.js';
import { assertClose } from '../laws/index.js';

const {
  serial,
  dense,
  conv1d,
  conv2d,
  convTranspose2d,
  locallyConnected2d,
  maxPool2d,
  avgPool2d,
  globalAvgPool,
  adaptiveAvgPool2d,
  batchNorm,
  layerNorm,
  dropout,
  relu,
  residual,
  denseConcat,
  skip,
  fanOut,
  parallel,
  fanInSum,
  fanInConcat,
} = nn;

const table: [string, nn.Layer, number[]][] = [
  ['dense', dense(5), [3, 4]],
  ['dense no bias', dense(2, { bias: false }), [2, 3, 4]],
  ['conv2d', conv2d(4, 3, { padding: 1 }), [2, 3, 6, 6]],
  ['conv2d strided same groups', conv2d(4, 3, { stride: 2, padding: 'same', groups: 2 }), [1, 4, 7, 7]],
  ['conv1d dilated', conv1d(3, 3, { dilation: 2 }), [2, 2, 9]],
  ['convTranspose2d', convTranspose2d(2, 3, { stride: 2, padding: 1, outputPadding: 1 }), [1, 3, 4, 4]],
  ['locallyConnected2d', locallyConnected2d(2, 3), [2, 3, 5, 5]],
  ['maxPool2d', maxPool2d(2), [1, 2, 6, 6]],
  ['maxPool2d ceil', maxPool2d(3, { stride: 2, ceilMode: true }), [1, 1, 6, 6]],
  ['avgPool2d pad', avgPool2d(3, { stride: 1, padding: 1, countIncludePad: false }), [1, 2, 4, 4]],
  ['globalAvgPool', globalAvgPool, [2, 3, 4, 4]],
  ['adaptiveAvgPool2d', adaptiveAvgPool2d([2, 3]), [1, 2, 5, 7]],
  ['batchNorm', batchNorm(), [4, 3, 2, 2]],
  ['layerNorm', layerNorm(), [3, 5]],
  ['dropout', dropout(0.5), [4, 6]],
  ['embedding', nn.embedding(10, 4), [3]],
  [
    'activations',
    serial(relu, nn.leakyRelu(), nn.elu(), nn.gelu(), nn.sigmoid, nn.tanh, nn.softplus, nn.softmax(), nn.logSoftmax()),
    [2, 5],
  ],
  ['residual', residual(serial(dense(4), relu, dense(4))), [2, 4]],
  [
    'residual with projection',
    residual(serial(conv2d(4, 3, { stride: 2, padding: 1 })), conv2d(4, 1, { stride: 2 })),
    [1, 2, 6, 6],
  ],
  ['denseConcat', denseConcat(conv2d(2, 3, { padding: 1 })), [1, 3, 4, 4]],
  ['skip', skip(serial(maxPool2d(2), convTranspose2d(3, 2, { stride: 2 }))), [1, 3, 4, 4]],
  ['fanOut/parallel/fanInSum', serial(fanOut(2), parallel(dense(3), dense(3)), fanInSum), [2, 5]],
  ['fanInConcat', serial(fanOut(3), fanInConcat(1)), [2, 3]],
  ['rnn lstm', nn.rnn(nn.lstmCell(4)), [5, 2, 3]],
  ['rnn lstm peephole batchFirst', nn.rnn(nn.lstmCell(4, { peephole: true }), { batchFirst: true }), [2, 5, 3]],
  ['rnn gru bidirectional last', nn.rnn(nn.gruCell(3), { bidirectional: true, returnSequences: false }), [4, 2, 3]],
  ['rnn elman', nn.rnn(nn.rnnCell(3)), [4, 2, 2]],
  ['rnn lstm returnState', nn.rnn(nn.lstmCell(3), { returnState: true }), [4, 2, 2]],
  [
    'rnn gru bidirectional returnState',
    nn.rnn(nn.gruCell(3), { bidirectional: true, returnState: true, batchFirst: true }),
    [2, 4, 2],
  ],
  ['temporalBlock', nn.temporalBlock(2, 4, 3, 2), [2, 2, 10]],
  ['lenet5', models.lenet5(), [2, 1, 28, 28]],
  ['alexnet (narrow)', models.alexnet({ width: 0.05, numClasses: 10 }), [1, 3, 63, 63]],
  ['vgg (tiny)', models.vgg([4, 'M', 8, 'M'], { numClasses: 3, hidden: 8, batchNorm: true }), [2, 3, 8, 8]],
  ['resnet (tiny)', models.resnet(models.basicBlock, [1, 1], { width: 4, small: true, numClasses: 5 }), [2, 3, 8, 8]],
  [
    'densenet (tiny)',
    models.densenet({ growthRate: 2, blockConfig: [2, 2], numClasses: 3, numInitFeatures: 4, small: true }),
    [1, 3, 8, 8],
  ],
  ['fcn', models.fcn({ numClasses: 3, widths: [4, 4] }), [1, 1, 8, 8]],
  ['encoderDecoder', models.encoderDecoder({ widths: [4, 8], outChannels: 1 }), [1, 1, 8, 8]],
  ['unet', models.unet({ widths: [4, 8], numClasses: 2 }), [1, 1, 8, 8]],
  ['sequenceClassifier gru', models.sequenceClassifier({ cell: 'gru', hidden: 4, numClasses: 3 }), [2, 5, 3]],
  ['tcn', models.tcn(2, { channels: [4, 4], numClasses: 3 }), [2, 2, 12]],
];

describe('layer laws', () => {
  for (const [name, layer, shape] of table) {
    const s = name === 'embedding' ? null : shape; // embedding takes integer indices (tested below)
    if (!s) continue;
    it(`${name}: outShape matches apply`, () => expect(initShapeMatchesApply(layer, s)).toBe(true));
    it(`${name}: deterministic given a key`, () => expect(deterministicGivenKey(layer, s)).toBe(true));
    it(`${name}: state round trips`, () => expect(stateRoundTrips(layer, s)).toBe(true));
    it(`${name}: apply is pure`, () => expect(applyIsPure(layer, s)).toBe(true));
  }
});

describe('layer behaviour', () => {
  const key = random.key(0);
  it('embedding looks up rows and names its weight', () => {
    const l = nn.embedding(10, 4);
    const { params, outShape } = l.init(key, [3]);
    const idx = np.array([2, 7, 2], { dtype: 'int32' });
    const { y } = l.apply(params, {}, idx);
    expect(outShape).toEqual([3, 4]);
    assertClose(np.slice(y, 1), np.slice(params.weight, 7));
  });
  it('params have readable names and PyTorch layouts', () => {
    const { params } = models.lenet5().init(key, [1, 1, 28, 28]);
    expect(params.conv1.weight.shape).toEqual([6, 1, 5, 5]);
    expect(params.fc1.weight.shape).toEqual([120, 400]);
    expect(Object.keys(params)).toContain('fc3');
  });
  it('dropout is the identity in inference and keeps the mean in training', () => {
    const l = dropout(0.3);
    const x = np.ones([200, 50]);
    expect(l.apply({}, {}, x).y).toBe(x);
    const y = l.apply({}, {}, x, { training: true, key }).y;
    const zeros = np.mean(np.equal(y, 0).astype('float32')).item();
    expect(zeros).toBeGreaterThan(0.25);
    expect(zeros).toBeLessThan(0.35);
    expect(Math.abs(np.mean(y).item() - 1)).toBeLessThan(0.05);
    expect(() => l.apply({}, {}, x, { training: true })).toThrow(/needs a key/);
  });
  it('batchNorm threads running statistics through state', () => {
    const l = batchNorm({ momentum: 0.5 });
    const { params, state } = l.init(key, [8, 2]);
    const x = np.add(np.multiply(random.normal(key, [8, 2]), 3), 5);
    const { state: s1 } = l.apply(params, state, x, { training: true });
    assertClose(s1.running_mean, np.multiply(np.mean(x, { axis: 0 }), 0.5));
    const { y, state: s2 } = l.apply(params, s1, x);
    assertClose(s2.running_mean, s1.running_mean); // inference leaves the statistics alone
    assertClose(s2.running_var, s1.running_var);
    expect(y.shape).toEqual([8, 2]);
  });
  it('lstm peephole gates follow the lecture equations', () => {
    const cell = nn.lstmCell(2, { peephole: true });
    const p = cell.init(key, 3);
    const x = random.normal(random.key(1), [1, 3]);
    const h = np.array([[0.1, -0.2]]),
      c = np.array([[0.5, -1]]);
    const [[h2, c2]] = cell.step(p, [h, c], x);
    const lin = (w: Array, v: Array) => np.matmul(v, np.transpose(w));
    const z = np.add(np.add(lin(p.wIh, x), p.bIh), np.add(lin(p.wHh, h), p.bHh));
    const [zi, zf, zg, zo] = np.split(z, 4, { axis: 1 });
    const i = np.sigmoid(np.add(zi, np.multiply(p.wCi, c))),
      f = np.sigmoid(np.add(zf, np.multiply(p.wCf, c)));
    const cNew = np.add(np.multiply(f, c), np.multiply(i, np.tanh(zg)));
    const o = np.sigmoid(np.add(zo, np.multiply(p.wCo, cNew)));
    assertClose(c2, cNew);
    assertClose(h2, np.multiply(o, np.tanh(cNew)));
  });
  it('recurrent layers backpropagate through time under jit', () => {
    const l = nn.rnn(nn.lstmCell(3));
    const { params } = l.init(key, [6, 2, 2]);
    const x = random.normal(key, [6, 2, 2]);
    const loss = (p: typeof params) => np.sum(np.square(l.apply(p, {}, x).y));
    const g1 = grad(loss)(params),
      g2 = jit(grad(loss))(params);
    assertClose(g1.forward.wHh, g2.forward.wHh);
    expect(np.sum(np.abs(g1.forward.wHh)).item()).toBeGreaterThan(0);
  });
  it('validates options by name', () => {
    expect(() => conv2d(3, 3, { strides: 2 } as never)).toThrow(/conv2d: unknown option 'strides'/);
    expect(() => dense(3, { bias: 'yes' } as never)).toThrow(/dense: option 'bias' must be boolean/);
    expect(() => dropout(1.5)).toThrow(/rate must be in \[0, 1\)/);
    expect(() => conv2d(3, 3).init(key, [1, 2, 5])).toThrow(/conv2d: input shape \(1, 2, 5\)/);
    expect(() => nn.functional.conv2d(np.ones([1, 3, 5, 5]), np.ones([2, 4, 3, 3]))).toThrow(
      /conv2d: input has 3 channels but weight \(2, 4, 3, 3\)/,
    );
  });
});

describe('module init traces each layer once', () => {
  // A layer that counts how often its function is traced or run.
  const counted = () => {
    const calls = { n: 0 };
    const layer = nn.lambda('counted', (x) => {
      calls.n++;
      return np.multiply(x, 2);
    });
    return { calls, layer };
  };
  const key = random.key(0);

  it('a sub-layer whose init knows its output is not traced again, however deeply nested', () => {
    const { calls, layer } = counted();
    const inner = nn.module('inner', { a: layer, conv: nn.conv2d(4, 3, { padding: 1 }), bn: nn.batchNorm() }, (m, x) =>
      m.bn(m.conv(m.a(x))),
    );
    const outer = nn.module('outer', { body: nn.serial({ inner, fc: nn.dense(5) }) }, (m, x) =>
      np.concatenate([m.body(x), m.body(x)], { axis: -1 }),
    );
    const r = outer.init(key, [2, 3, 8, 8]);
    // Once when `lambda` finds its output shape, once more for the second call of `body`.
    expect(calls.n).toBe(2);
    expect(r.outShape).toEqual([2, 4, 8, 10]);
    const y = outer.apply(r.params, r.state, random.normal(key, [2, 3, 8, 8])).y;
    expect(y.shape).toEqual(r.outShape);
  });

  it('traces the layer where its output is not known: other dtypes, precision wrappers, inside transforms', () => {
    const a = counted();
    const ints = nn.module('ints', { a: a.layer }, (m, x: Array) => m.a(x));
    expect(ints.init(key, new ShapeDtype([3], 'int32')).outShape).toEqual([3]);
    expect(a.calls.n).toBe(2); // the int32 output differs from the float32 one init knows
    const b = counted();
    const half = nn.module('half', { a: nn.precision(b.layer, { dtype: 'float16' }) }, (m, x) => np.sum(m.a(x)));
    const r = half.init(key, [3, 4]);
    expect(b.calls.n).toBe(2); // float16 inside: not the float32 output init knows
    expect(half.apply(r.params, r.state, np.ones([3, 4])).y.dtype).toBe('float16');
    const c = counted();
    const mapped = nn.module('mapped', { a: c.layer }, (m, x) => vmap((row: Array) => m.a(row))(x));
    expect(mapped.init(key, [3, 4]).outShape).toEqual([3, 4]);
    expect(c.calls.n).toBe(2);
  });
});

describe('receptive field', () => {
  it('conv K then pool P sees P + K - 1 inputs, and jumps multiply', () => {
    const rows = nn.receptiveField(serial(conv2d(4, 5), maxPool2d(2)), [1, 1, 28, 28]);
    expect(rows.map((r) => r.size)).toEqual([5, 6]);
    expect(rows.map((r) => r.jump)).toEqual([1, 2]);
    expect(rows[1].outShape).toEqual([1, 4, 12, 12]);
  });
  it('LeNet-5 layer by layer', () => {
    const rows = nn.receptiveField(models.lenet5(), [1, 1, 28, 28]);
    const conv2 = rows.find((r, i) => r.name === 'conv2d' && i > 0)!;
    expect(conv2.size).toBe(14); // 5 + (2-1)*1 + (5-1)*2
    expect(conv2.jump).toBe(2);
  });
});

describe('functional forms', () => {
  it('relu and abs have zero derivative / subgradient at 0 like JAX', () => {
    expect(grad((x: Array) => np.sum(nn.functional.relu(x)))(np.array([0, 1, -1])).toArray()).toEqual([0, 1, 0]);
    expect(grad((x: Array) => np.sum(np.abs(x)))(np.array([0, 2, -2])).toArray()).toEqual([0, 1, -1]);
  });
  it('losses: label smoothing, one-hot targets, nll and huber agree with their formulas', () => {
    const logits = np.array([
      [2, 0.5, -1],
      [0, 1, 3],
    ]);
    const labels = np.array([0, 2], { dtype: 'int32' });
    const ce = nn.softmaxCrossEntropy(logits, labels).item();
    const oneHot = np.array([
      [1, 0, 0],
      [0, 0, 1],
    ]);
    expect(nn.softmaxCrossEntropy(logits, oneHot).item()).toBeCloseTo(ce, 5);
    expect(nn.nll(nn.functional.logSoftmax(logits), labels).item()).toBeCloseTo(ce, 5);
    const smooth = nn.softmaxCrossEntropy(logits, labels, { labelSmoothing: 0.1 }).item();
    const target = np.add(np.multiply(oneHot, 0.9), 0.1 / 3);
    expect(smooth).toBeCloseTo(
      -np.mean(np.sum(np.multiply(target, nn.functional.logSoftmax(logits)), { axis: 1 })).item(),
      5,
    );
    expect(nn.huber(np.array([0, 3]), np.array([0.5, 0])).item()).toBeCloseTo((0.125 + 2.5) / 2, 5);
    expect(nn.accuracy(logits, labels).item()).toBe(1);
  });
});

describe("batch norm's written-out derivative", () => {
  // The training-mode forward pass as plain operations, differentiated by the transforms.
  const reference = (x: Array, w: Array, b: Array) => {
    const axes = [0, 2, 3];
    const mean = np.mean(x, { axis: axes, keepdims: true });
    const centered = np.subtract(x, mean);
    const variance = np.mean(np.square(centered), { axis: axes, keepdims: true });
    const scale = np.multiply(np.rsqrt(np.add(variance, 1e-5)), np.reshape(w, [1, -1, 1, 1]));
    return np.add(np.multiply(centered, scale), np.reshape(b, [1, -1, 1, 1]));
  };
  const fluxion = (x: Array, w: Array, b: Array) =>
    nn.functional.batchNorm(x, np.zeros([3], { dtype: x.dtype }), np.ones([3], { dtype: x.dtype }), w, b).y;
  const args = (dtype: 'float64' | 'float32') =>
    [
      random.normal(random.key(0), [4, 3, 5, 5]),
      random.normal(random.key(1), [3]),
      random.normal(random.key(2), [3]),
    ].map((a) => np.astype(a, dtype)) as [Array, Array, Array];
  const ct = np.astype(random.normal(random.key(3), [4, 3, 5, 5]), 'float64');
  const loss = (f: typeof fluxion) => (x: Array, w: Array, b: Array) => np.sum(np.multiply(f(x, w, b), ct));

  it('gives the derivatives of the forward pass in reverse and forward mode, batched and twice', () => {
    const [x, w, b] = args('float64');
    const tight = { rtol: 1e-10, atol: 1e-10 };
    for (const argnums of [0, 1, 2])
      assertClose(grad(loss(fluxion), { argnums })(x, w, b), grad(loss(reference), { argnums })(x, w, b), tight);
    const tangents = args('float64').map((t) => np.multiply(t, 0.5)) as [Array, Array, Array];
    const [, dy] = jvp(fluxion, [x, w, b], tangents);
    assertClose(dy, jvp(reference, [x, w, b], tangents)[1], tight);
    // Second order: the Hessian of the loss along a direction, and per-example gradients under vmap.
    const hvp = (f: typeof fluxion) => jvp((v: Array) => grad(loss(f))(v, w, b), [x], [tangents[0]])[1];
    assertClose(hvp(fluxion), hvp(reference), { rtol: 1e-8, atol: 1e-8 });
    const perExample = (f: typeof fluxion) => vmap((xs: Array) => grad(loss(f))(np.tile(xs, [4, 1, 1, 1]), w, b))(x);
    assertClose(perExample(fluxion), perExample(reference), tight);
  });

  it('makes fewer passes over the input than differentiating the forward pass', () => {
    // Equations with a full-size result or operand (broadcasts are free: the lowering folds them).
    const passes = (f: typeof fluxion) =>
      makeGraph(grad(loss(f), { argnums: [0, 1, 2] }))(...args('float64')).eqns.filter(
        (e) =>
          e.prim.name !== 'broadcast_in_dim' &&
          [...e.outs, ...e.inputs].some((a) => a.aval.shape.length === 4 && a.aval.shape[0] === 4),
      ).length;
    expect(passes(fluxion)).toBeLessThan(passes(reference) - 3);
  });
});
