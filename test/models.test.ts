// The model zoo against torchvision (names, shapes, parameter counts, a real float16 checkpoint
// and its logits), checkpoint files and resuming, and one training step of every zoo model.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Array,
  type NDArray,
  ConcreteArray,
  ValueError,
  io,
  jit,
  models,
  nn,
  np,
  optim,
  random,
  tree,
  valueAndGrad,
} from '../src/index.js';
import { assertClose } from '../laws/index.js';

const shared = join(import.meta.dirname, '../../shared/torchvision');
const reference: Record<string, { parameters: number; state_dict: [string, number[], string][] }> = JSON.parse(
  readFileSync(join(shared, 'state-dict-keys.json'), 'utf8'),
);
const constructors: Record<string, () => nn.Layer> = {
  alexnet: models.alexnet,
  vgg11: models.vgg11,
  vgg16: models.vgg16,
  vgg16_bn: models.vgg16_bn,
  resnet18: models.resnet18,
  resnet34: models.resnet34,
  resnet50: models.resnet50,
  densenet121: models.densenet121,
  densenet169: models.densenet169,
};
/** `name shape dtype` of every leaf of a tree, by dotted name. */
const entries = (t: unknown) => {
  const [leaves, def] = tree.flatten<{ shape: number[]; dtype: string }>(t);
  return tree.leafPaths(def).map((p, i) => `${p.join('.')} [${leaves[i].shape}]`);
};

describe('torchvision architectures', () => {
  for (const [name, ref] of Object.entries(reference)) {
    it(`${name}: state_dict names, shapes and parameter count`, () => {
      const model = constructors[name]();
      const shapes = models.paramShapes(model);
      const ours = [...entries(shapes.params), ...entries(shapes.state)].sort();
      expect(ours).toEqual(ref.state_dict.map(([n, s]) => `${n} [${s}]`).sort());
      expect(models.paramCount(model)).toBe(ref.parameters);
    });
  }
  it('counts the models the reference file leaves out', () => {
    expect(models.paramCount(models.resnet101())).toBe(44549160);
    expect(models.paramCount(models.resnet152())).toBe(60192808);
    expect(models.paramCount(models.vgg19())).toBe(143667240);
    expect(models.paramCount(models.densenet201())).toBe(20013928);
  });
  it('loads the float16 torchvision ResNet-18 checkpoint and reproduces its logits', async () => {
    const loaded = await io.loadFile(join(shared, 'resnet18-cifar10-f16.safetensors'));
    expect(loaded.params.conv1.weight.dtype).toBe('float16');
    expect(loaded.converted).toEqual(
      expect.objectContaining({
        'bn1.num_batches_tracked': 'I64 -> int32',
        'layer1.0.bn1.num_batches_tracked': 'I64 -> int32',
      }),
    );
    expect(Object.values(loaded.converted).every((c) => c === 'I64 -> int32')).toBe(true);
    const asFloat32 = await io.loadFile(join(shared, 'resnet18-cifar10-f16.safetensors'), { dtype: 'float32' });
    expect(asFloat32.converted['conv1.weight']).toBe('F16 -> float32');
    expect(asFloat32.params.conv1.weight.toArray()).toEqual(loaded.params.conv1.weight.toArray());
    const model = models.resnet18({ numClasses: 10 });
    const { params, state } = models.fromStateDict(model, loaded.params);
    expect(params.conv1.weight.dtype).toBe('float32');
    expect(state.bn1.num_batches_tracked.dtype).toBe('int32');
    const ref = JSON.parse(readFileSync(join(shared, 'resnet18-cifar10-logits.json'), 'utf8'));
    const x = np.reshape(np.array(ref.input.data), ref.input.shape);
    assertClose(model.apply(params, state, x).y, ref.logits, { rtol: 1e-3, atol: 1e-4 }, 'logits');
  });
  it('names every missing, unexpected and mis-shaped key', async () => {
    const { params } = await io.loadFile(join(shared, 'resnet18-cifar10-f16.safetensors'));
    const model = models.resnet18({ numClasses: 10 });
    const broken = { ...params, extra: { weight: np.ones([2]) }, fc: { weight: params.fc.weight } };
    expect(() => models.fromStateDict(model, broken)).toThrow(/missing params\.fc\.bias; unexpected .*extra\.weight/);
    const wrong = { ...params, fc: { weight: np.ones([3, 512]), bias: params.fc.bias } };
    expect(() => models.fromStateDict(model, wrong)).toThrow(
      /mis-shaped params\.fc\.weight \(3, 512\) \(expected \(10, 512\)\)/,
    );
    expect(() => models.fromStateDict(models.resnet18(), params)).toThrow(ValueError);
  });
});

/** Safetensors bytes from raw entries, for dtypes Fluxion cannot write. */
function rawSafetensors(entries: [string, string, number[], Uint8Array][]): Uint8Array {
  let at = 0;
  const header: Record<string, unknown> = {};
  for (const [name, dtype, shape, data] of entries) {
    header[name] = { dtype, shape, data_offsets: [at, at + data.length] };
    at += data.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + at);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let p = 8 + json.length;
  for (const e of entries) {
    out.set(e[3], p);
    p += e[3].length;
  }
  return out;
}
const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe('checkpoint dtypes and files', () => {
  it('reads F16, BF16, F64, I8 and U8 as stored, I64 as int32, and says so', () => {
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x3555, 0x7c00, 0x0001]); // 1, -2, 0.333, inf, 2^-24
    const bf16 = new Uint16Array([0x3f80, 0x4049]); // 1, 3.140625
    const { params, converted } = io.loadSafetensors(
      rawSafetensors([
        ['h', 'F16', [5], bytesOf(f16)],
        ['b', 'BF16', [2], bytesOf(bf16)],
        ['d', 'F64', [2], bytesOf(new Float64Array([0.1, -1e300]))],
        ['l', 'I64', [2], bytesOf(new BigInt64Array([5n, -7n]))],
        ['i8', 'I8', [2], bytesOf(new Int8Array([-128, 127]))],
        ['u8', 'U8', [2], new Uint8Array([0, 255])],
      ]),
    );
    expect(params.h.toArray()).toEqual([1, -2, 0.333251953125, Infinity, 2 ** -24]);
    expect(params.b.toArray()).toEqual([1, 3.140625]);
    expect(params.d.toArray()).toEqual([0.1, -1e300]);
    expect(params.l.dtype).toBe('int32');
    expect(params.l.toArray()).toEqual([5, -7]);
    expect(params.i8.toArray()).toEqual([-128, 127]);
    expect(params.u8.toArray()).toEqual([0, 255]);
    expect(Object.fromEntries(Object.entries(params).map(([k, v]) => [k, (v as NDArray).dtype]))).toEqual({
      h: 'float16',
      b: 'bfloat16',
      d: 'float64',
      l: 'int32',
      i8: 'int8',
      u8: 'uint8',
    });
    expect(converted).toEqual({ l: 'I64 -> int32' });
    // Saving writes each array's own dtype, bit for bit.
    const again = io.loadSafetensors(io.saveSafetensors(params));
    for (const k of Object.keys(params))
      expect((again.params[k] as ConcreteArray).storage).toEqual((params[k] as ConcreteArray).storage);
    expect(io.loadSafetensors(io.saveSafetensors(params), { dtype: 'float32' }).converted).toEqual({
      h: 'F16 -> float32',
      b: 'BF16 -> float32',
      d: 'F64 -> float32',
    });
    expect(() => io.loadSafetensors(io.saveSafetensors(params), { dtype: 'int8' })).toThrow(/must be a float dtype/);
    const big = rawSafetensors([['l', 'I64', [1], bytesOf(new BigInt64Array([2n ** 40n]))]]);
    expect(() => io.loadSafetensors(big)).toThrow(/'l' \(I64\) holds values outside int32's range/);
    const short = rawSafetensors([['h', 'F16', [3], new Uint8Array(4)]]);
    expect(() => io.loadSafetensors(short)).toThrow(/data_offsets \[0, 4\] that do not fit/);
  });
  it('saveFile writes atomically and loadFile reads it back; missing files are clear errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fluxion-ckpt-'));
    const file = join(dir, 'w.safetensors');
    await io.saveFile(file, { w: np.arange(6), s: np.array(3, { dtype: 'int32' }) }, { metadata: { step: '3' } });
    expect(readdirSync(dir)).toEqual(['w.safetensors']); // no temporary file left behind
    const back = await io.loadFile(file);
    expect(back.params.w.toArray()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(back.metadata).toEqual({ step: '3' });
    writeFileSync(file, new Uint8Array([1, 2, 3]));
    await expect(io.loadFile(file)).rejects.toThrow(/shorter than its 8-byte header/);
    await expect(io.loadFile(join(dir, 'absent.safetensors'))).rejects.toThrow(/loadFile: cannot read .*ENOENT/);
    await expect(io.saveFile(join(dir, 'no/such/dir/x.safetensors'), { w: np.ones([1]) })).rejects.toThrow();
    expect(readdirSync(dir)).toEqual(['w.safetensors']);
  });
  it('resumes training bit-exactly from a checkpoint of params, state, optimizer state and step', async () => {
    const model = models.lenet5();
    const opt = optim.chain(optim.clipByGlobalNorm(1), optim.adam(1e-3));
    const init = model.init(random.key(0), [8, 1, 28, 28]);
    const x = random.uniform(random.key(1), [8, 1, 28, 28]);
    const y = np.array([0, 1, 2, 3, 4, 5, 6, 7], { dtype: 'int32' });
    type S = { params: any; state: any; optState: any; step: Array };
    const step = jit((s: S): S => {
      const [, grads] = valueAndGrad((p: any) => nn.softmaxCrossEntropy(model.apply(p, s.state, x).y, y))(s.params);
      const { updates, state: optState } = opt.update(grads, s.optState, s.params);
      return { params: optim.applyUpdates(s.params, updates), state: s.state, optState, step: np.add(s.step, 1) };
    });
    let s: S = { ...init, optState: opt.init(init.params), step: np.array(0, { dtype: 'int32' }) };
    for (let i = 0; i < 3; i++) s = step(s);
    const file = join(mkdtempSync(join(tmpdir(), 'fluxion-resume-')), 'ckpt.safetensors');
    await io.saveFile(file, s);
    let a = s;
    for (let i = 0; i < 2; i++) a = step(a);
    let b = io.restore(s, (await io.loadFile(file)).params);
    expect(b.step.item()).toBe(3);
    for (let i = 0; i < 2; i++) b = step(b);
    const [la] = tree.flatten<Array>(a),
      [lb] = tree.flatten<Array>(b);
    expect(lb.length).toBe(la.length);
    la.forEach((leaf, i) => expect([...lb[i].dataSync()]).toEqual([...leaf.dataSync()]));
  });
});

/** [name, model, input shape, integer-input vocabulary]: small configurations of every zoo model. */
const zoo: [string, () => nn.Layer, number[], number?][] = [
  ['lenet5', () => models.lenet5(), [4, 1, 28, 28]],
  ['alexnet', () => models.alexnet({ width: 0.05, numClasses: 4 }), [2, 3, 63, 63]],
  ['vgg11', () => models.vgg11({ width: 1 / 16, hidden: 8, poolSize: 1, numClasses: 4 }), [2, 3, 32, 32]],
  ['vgg13_bn', () => models.vgg13_bn({ width: 1 / 16, hidden: 8, poolSize: 2, numClasses: 4 }), [2, 3, 32, 32]],
  ['resnet18', () => models.resnet18({ width: 4, small: true, numClasses: 4 }), [2, 3, 8, 8]],
  ['resnet50', () => models.resnet50({ width: 2, small: true, numClasses: 4 }), [2, 3, 8, 8]],
  ['resnet20', () => models.resnet20({ numClasses: 4 }), [2, 3, 8, 8]],
  [
    'densenet121',
    () => models.densenet121({ growthRate: 2, numInitFeatures: 4, small: true, numClasses: 4 }),
    [2, 3, 8, 8],
  ],
  ['fcn', () => models.fcn({ numClasses: 3, widths: [4, 4] }), [2, 1, 8, 8]],
  ['encoderDecoder', () => models.encoderDecoder({ widths: [4, 8] }), [2, 1, 8, 8]],
  ['autoencoder', () => models.autoencoder({ imageShape: [1, 8, 8], widths: [4, 8], latent: 3 }), [2, 1, 8, 8]],
  ['unet', () => models.unet({ widths: [4, 8], numClasses: 2 }), [2, 1, 8, 8]],
  ['lstmClassifier', () => models.lstmClassifier({ hidden: 4, numClasses: 3 }), [2, 5, 3]],
  ['gruLanguageModel', () => models.gruLanguageModel({ vocab: 7, embed: 4, hidden: 5 }), [2, 6], 7],
  ['tcn', () => models.tcn(2, { channels: [4, 4], numClasses: 3 }), [2, 2, 12]],
];

describe('one training step lowers the loss of every zoo model', () => {
  for (const [name, make, shape, vocab] of zoo) {
    it(name, () => {
      const model = make();
      const { params, state, outShape } = model.init(random.key(0), shape);
      const x = vocab ? random.randint(random.key(1), shape, 0, vocab) : random.normal(random.key(1), shape);
      const target = random.normal(random.key(2), outShape);
      const key = random.key(3); // the same dropout masks before and after the step
      const loss = (p: any) =>
        np.mean(np.square(np.subtract(model.apply(p, state, x, { training: true, key }).y, target)));
      const [before, grads] = valueAndGrad(loss)(params);
      // A short step down the gradient (length 1e-4 whatever the gradient's size) must lower a smooth loss.
      const norm = Math.sqrt(tree.leaves(grads).reduce((s: number, g: any) => s + np.sum(np.square(g)).item(), 0));
      const after = loss(tree.map((p: Array, g: Array) => np.subtract(p, np.multiply(g, 1e-4 / norm)), params, grads));
      expect(after.item()).toBeLessThan(before.item());
    });
  }
});
