// GPT-2 (Hugging Face names) and the Vision Transformer (torchvision names): state_dict names, shapes and parameter
// count, and the tiny float16 checkpoint's logits, from ../shared/transformers.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type NDArray, io, jit, models, nn, np, onnx, optim, random, tree, valueAndGrad } from '../src/index.js';
import { assertClose } from '../laws/index.js';

const shared = join(import.meta.dirname, '../../shared/transformers');

describe('GPT-2 (Hugging Face names)', () => {
  it("the 124M configuration has GPT2LMHeadModel's state_dict names, shapes and parameter count", () => {
    const reference = JSON.parse(readFileSync(join(shared, 'modern-state-dict-keys.json'), 'utf8')).gpt2;
    const model = models.gpt2();
    expect(models.paramCount(model)).toBe(reference.parameters);
    const [leaves, def] = tree.flatten(models.paramShapes(model).params);
    const ours = new Map(tree.leafPaths(def).map((p, i) => [p.join('.'), (leaves[i] as NDArray).shape]));
    const theirs = (reference.state_dict as [string, number[], string][]).filter(([name]) => name !== 'lm_head.weight');
    expect([...ours.keys()].sort()).toEqual(theirs.map(([name]) => name).sort());
    for (const [name, shape] of theirs) expect(ours.get(name), name).toEqual(shape);
  });

  it('loads the tiny float16 checkpoint (lm_head tied) and reproduces its float64 logits', async () => {
    const ref = JSON.parse(readFileSync(join(shared, 'tiny-gpt2.json'), 'utf8'));
    const c = ref.config;
    const model = models.gpt2({ vocabSize: c.vocab, nPositions: c.npos, nEmbd: c.d, nLayer: c.nlayer, nHead: c.h });
    const loaded = await io.loadFile(join(shared, 'tiny-gpt2.safetensors'));
    expect(loaded.params.transformer.wte.weight.dtype).toBe('float16');
    const { params, state } = models.fromStateDict(model, loaded.params);
    const ids = np.array(ref.input_ids.data, { dtype: 'int32', shape: ref.input_ids.shape });
    const logits = model.apply(params, state, ids).y;
    assertClose(logits, ref.logits, { rtol: 1e-3, atol: 1e-3 }, 'logits');
    assertClose(jit((p: unknown, x: NDArray) => model.apply(p, state, x).y)(params, ids), logits, {
      rtol: 1e-4,
      atol: 1e-4,
    });
  });

  it('trains: AdamW steps on next-token prediction lower the loss', () => {
    const model = models.gpt2({ vocabSize: 16, nPositions: 8, nEmbd: 16, nLayer: 1, nHead: 2 });
    const tokens = np.array([[3, 1, 4, 1, 5, 9, 2, 6, 5]], { dtype: 'int32' });
    const [x, y] = [np.slice(tokens, null, [0, 8]), np.slice(tokens, null, [1, 9])];
    const init = model.init(random.key(0), [1, 8]);
    expect(init.params.transformer.h['0'].attn.c_attn.weight.shape).toEqual([16, 48]);
    const opt = optim.adamw(1e-2);
    const loss = (p: unknown) =>
      nn.softmaxCrossEntropy(np.reshape(model.apply(p, init.state, x).y, [8, 16]), np.reshape(y, [8]));
    const step = jit((p: unknown, s: optim.ChainState) => {
      const [l, g] = valueAndGrad(loss)(p);
      const r = opt.update(g, s, p);
      return { p: optim.applyUpdates(p, r.updates), s: r.state, l };
    });
    let p: unknown = init.params,
      s = opt.init(init.params);
    const losses: number[] = [];
    for (let i = 0; i < 30; i++) {
      const r = step(p, s);
      [p, s] = [r.p, r.s];
      losses.push(r.l.item());
    }
    expect(losses[29]).toBeLessThan(losses[0] / 3);
  });
});

describe('Vision Transformer (torchvision names)', () => {
  const reference = JSON.parse(readFileSync(join(shared, 'modern-state-dict-keys.json'), 'utf8'));
  for (const [name, make] of [
    ['vit_b_16', () => models.vitB16()],
    ['vit_b_32', () => models.vitB32()],
  ] as const)
    it(`${name} has torchvision's state_dict names, shapes and parameter count`, () => {
      const model = make();
      expect(models.paramCount(model)).toBe(reference[name].parameters);
      const [leaves, def] = tree.flatten(models.paramShapes(model).params);
      const ours = tree.leafPaths(def).map((p, i) => [p.join('.'), (leaves[i] as NDArray).shape]);
      const theirs = (reference[name].state_dict as [string, number[], string][]).map(([n, s]) => [n, s]);
      expect(ours.sort()).toEqual(theirs.sort());
    });

  it('loads the tiny float16 checkpoint and reproduces its float64 logits', async () => {
    const ref = JSON.parse(readFileSync(join(shared, 'tiny-vit.json'), 'utf8'));
    const c = ref.config;
    const model = models.visionTransformer({
      imageSize: c.image_size,
      patchSize: c.patch_size,
      numLayers: c.num_layers,
      numHeads: c.num_heads,
      hiddenDim: c.hidden_dim,
      mlpDim: c.mlp_dim,
      numClasses: c.num_classes,
    });
    const loaded = await io.loadFile(join(shared, 'tiny-vit.safetensors'));
    const { params, state } = models.fromStateDict(model, loaded.params);
    const x = np.array(ref.input.data, { shape: ref.input.shape });
    assertClose(model.apply(params, state, x).y, ref.logits, { rtol: 1e-3, atol: 1e-3 }, 'logits');
  });
});

describe('training the transformers', () => {
  it('ViT trains on CIFAR-shaped data: AdamW steps fit a small batch', () => {
    const vit = models.visionTransformer({
      imageSize: 32,
      patchSize: 8,
      numLayers: 1,
      numHeads: 2,
      hiddenDim: 32,
      mlpDim: 64,
      numClasses: 10,
    });
    const init = vit.init(random.key(0), [8, 3, 32, 32]);
    const x = random.normal(random.key(1), [8, 3, 32, 32]);
    const y = np.array([0, 1, 2, 3, 4, 5, 6, 7], { dtype: 'int32' });
    const opt = optim.adamw(3e-3);
    const loss = (p: unknown) => nn.softmaxCrossEntropy(vit.apply(p, init.state, x).y, y);
    const step = jit((p: unknown, s: optim.ChainState) => {
      const [l, g] = valueAndGrad(loss)(p);
      const r = opt.update(g, s, p);
      return { p: optim.applyUpdates(p, r.updates), s: r.state, l };
    });
    let [p, s]: [unknown, optim.ChainState] = [init.params, opt.init(init.params)];
    const losses: number[] = [];
    for (let i = 0; i < 25; i++) {
      const r = step(p, s);
      [p, s] = [r.p, r.s];
      losses.push(r.l.item());
    }
    expect(losses[0]).toBeCloseTo(Math.log(10), 0); // a zero-initialised head starts at chance
    expect(losses[24]).toBeLessThan(losses[0] / 4);
  });
});

describe('generation with a key/value cache', () => {
  const gpt = models.gpt2({ vocabSize: 32, nPositions: 16, nEmbd: 16, nLayer: 2, nHead: 4 });
  const { params, state } = gpt.init(random.key(3), [1, 16]);
  const prompt = np.array(
    [
      [1, 5, 9],
      [4, 4, 2],
    ],
    { dtype: 'int32' },
  );

  it('greedy decoding with the cache equals recomputing the whole sequence, token for token, compiled once', () => {
    const g = models.generator(gpt, { temperature: 0 });
    const withCache = g.generate(params, prompt, { maxNewTokens: 8 });
    expect(withCache.shape).toEqual([2, 11]);
    let seq = prompt;
    for (let i = 0; i < 8; i++) {
      const logits = gpt.apply(params, state, seq).y as NDArray;
      const last = np.slice(logits, null, [seq.shape[1] - 1, seq.shape[1]]);
      seq = np.concatenate([seq, np.astype(np.argmax(last, { axis: -1 }), 'int32')], { axis: 1 });
    }
    expect(withCache.toArray()).toEqual(seq.toArray());
    g.generate(params, prompt, { maxNewTokens: 5 });
    expect(g.traceCount).toBe(1); // one decoding step for every token of both calls
  });

  it('samples with temperature and top-k (top-1 is greedy), reproducibly from a key', () => {
    const greedy = models.generator(gpt, { temperature: 0 }).generate(params, prompt, { maxNewTokens: 6 });
    const top1 = models.generator(gpt, { temperature: 1.5, topK: 1 }).generate(params, prompt, {
      maxNewTokens: 6,
      key: random.key(9),
    });
    expect(top1.toArray()).toEqual(greedy.toArray());
    const sampler = models.generator(gpt, { temperature: 1, topK: 5 });
    const a = sampler.generate(params, prompt, { maxNewTokens: 6, key: random.key(1) });
    const b = sampler.generate(params, prompt, { maxNewTokens: 6, key: random.key(1) });
    expect(a.toArray()).toEqual(b.toArray());
    const viaFunction = models.generate(gpt, params, prompt, { maxNewTokens: 6, temperature: 0 });
    expect(viaFunction.toArray()).toEqual(greedy.toArray());
    expect(() => sampler.generate(params, prompt, { maxNewTokens: 14 })).toThrow(
      /17 tokens do not fit the model's 16 positions/,
    );
  });
});

describe('ONNX export of the transformers', () => {
  const ort = createRequire(import.meta.url)('onnxruntime-node');
  const maxError = (got: ArrayLike<number>, want: ArrayLike<number>) =>
    Array.from(got).reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0);

  it("GPT-2 and ViT run in onnxruntime-node with Fluxion's outputs", async () => {
    const gpt = models.gpt2({ vocabSize: 32, nPositions: 16, nEmbd: 16, nLayer: 2, nHead: 4 });
    const g = gpt.init(random.key(3), [1, 16]);
    const ids = np.array([[1, 5, 9, 3]], { dtype: 'int32' });
    const lm = (x: NDArray) => gpt.apply(g.params, g.state, x).y as NDArray;
    const session = await ort.InferenceSession.create(
      onnx.exportModel(lm, [ids], { inputNames: ['ids'], outputNames: ['logits'] }),
    );
    const out = await session.run({ ids: new ort.Tensor('int32', ids.dataSync(), [1, 4]) });
    expect(out.logits.dims).toEqual([1, 4, 32]);
    expect(maxError(out.logits.data, lm(ids).dataSync())).toBeLessThan(1e-5);

    const vit = models.visionTransformer({
      imageSize: 16,
      patchSize: 8,
      numLayers: 1,
      numHeads: 2,
      hiddenDim: 16,
      mlpDim: 32,
      numClasses: 5,
    });
    const v = vit.init(random.key(1), [2, 3, 16, 16]);
    const x = random.normal(random.key(2), [2, 3, 16, 16]);
    const classify = (a: NDArray) => vit.apply(v.params, v.state, a).y as NDArray;
    const vs = await ort.InferenceSession.create(
      onnx.exportModel(classify, [x], { inputNames: ['x'], outputNames: ['y'] }),
    );
    const vo = await vs.run({ x: new ort.Tensor('float32', x.dataSync(), [2, 3, 16, 16]) });
    expect(vo.y.dims).toEqual([2, 5]);
    expect(maxError(vo.y.data, classify(x).dataSync())).toBeLessThan(1e-5);
  });
});
