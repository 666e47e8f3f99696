// CPU benchmark: the workloads for Fluxion (jit on ONNX Runtime, jit on the JavaScript
// kernels, eager) and its peers (jax-js wasm, tfjs cpu and wasm), all in this one run, warmed up, results
// read back inside the timed region, median of repeats. Prints one table with each row's ratio to
// the fastest library on that workload. Run: npm run bench [-- --quick]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { transformSync } from 'esbuild';
import {
  type Array,
  grad,
  jit,
  models,
  nn,
  np,
  onnx,
  optim,
  random,
  setCpuBackend,
  valueAndGrad,
} from '../src/index.js';

const quick = process.argv.includes('--quick');
const REPEATS = quick ? 5 : 15;

/** Median milliseconds of `fn` after warming up (calls slower than 200 ms repeat 3 times only). */
function median(fn: () => unknown, repeats = REPEATS): number {
  const w0 = performance.now();
  fn();
  if (performance.now() - w0 > 200) repeats = 3;
  else for (let i = 0; i < 2; i++) fn();
  const ts: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return ts.sort((a, b) => a - b)[ts.length >> 1];
}

type Row = { workload: string; library: string; ms: number; note?: string };
const rows: Row[] = [];
const record = (workload: string, library: string, fn: () => unknown, note?: (ms: number) => string) => {
  try {
    const ms = median(fn);
    rows.push({ workload, library, ms, note: note?.(ms) });
  } catch (e) {
    console.log(`${library} / ${workload} skipped: ${(e as Error).message.split('\n')[0]}`);
  }
};
const gflops = (flops: number) => (ms: number) => `${(flops / ms / 1e6).toFixed(1)} GFLOP/s`;

// ---------------------------------------------------------------- workloads, as Fluxion functions
const matA = random.normal(random.key(0), [1024, 1024]);
const matmul = (a: Array) => np.matmul(a, a);
const chainX = random.normal(random.key(1), [1 << 20]);
const chain = (x: Array) =>
  np.subtract(np.multiply(np.tanh(np.add(np.multiply(x, 2), 1)), nn.functional.sigmoid(x)), np.divide(x, 2));
const convIn = random.normal(random.key(2), [32, 1, 28, 28]),
  convW = random.normal(random.key(3), [6, 1, 5, 5]);
const vggIn = random.normal(random.key(4), [32, 64, 32, 32]),
  vggW = random.normal(random.key(5), [64, 64, 3, 3]);
const conv = (x: Array, w: Array) => nn.functional.conv2d(x, w, null, { padding: 'same' });

const mlp = nn.serial(nn.dense(512), nn.relu, nn.dense(512), nn.relu, nn.dense(10));
const mlpInit = mlp.init(random.key(6), [128, 784]);
const mlpX = random.normal(random.key(7), [128, 784]),
  mlpY = np.remainder(np.arange(128), 10).astype('int32');
const mlpStep = (p: unknown, x: Array, y: Array) => {
  const g = grad((q: unknown) => nn.softmaxCrossEntropy(mlp.apply(q, mlpInit.state, x).y, y))(p);
  return optim.applyUpdates(p, optim.sgd(0.01).update(g, optim.sgd(0.01).init(p), p).updates);
};

const lenet = models.lenet5();
const lenetInit = lenet.init(random.key(8), [64, 1, 28, 28]);
const adam = optim.adam(1e-3);
const lenetX = random.normal(random.key(9), [64, 1, 28, 28]),
  lenetY = np.remainder(np.arange(64), 10).astype('int32');
const lenetStep = (p: unknown, o: optim.ChainState, x: Array, y: Array) => {
  const [l, g] = valueAndGrad((q: unknown) =>
    nn.softmaxCrossEntropy(lenet.apply(q, lenetInit.state, x, { training: true }).y, y),
  )(p);
  const { updates, state } = adam.update(g, o, p);
  return { params: optim.applyUpdates(p, updates), opt: state, loss: l };
};

const lstm = nn.rnn(nn.lstmCell(128));
const lstmX = random.normal(random.key(10), [16, 32, 64]);
const lstmInit = lstm.init(random.key(11), lstmX.shape);
const lstmForward = (p: unknown, x: Array) => lstm.apply(p, lstmInit.state, x).y;
const lstmLoss = (p: unknown, x: Array) => np.sum(np.square(lstmForward(p, x)));
const lstmTrain = (p: unknown, x: Array) => valueAndGrad(lstmLoss)(p, x);

/** Reads every array leaf back (the timed region includes it), without copying it again. */
const sync = (t: unknown): unknown => {
  if (t && typeof t === 'object' && 'view' in t) return (t as Array).view();
  if (t && typeof t === 'object') for (const v of Object.values(t)) sync(v);
  return t;
};

for (const [cpu, label] of [
  ['onnx', 'fluxion jit (ONNX Runtime)'],
  ['js', 'fluxion jit (JavaScript)'],
] as const) {
  setCpuBackend(cpu);
  const j = {
    matmul: jit(matmul),
    chain: jit(chain),
    conv: jit(conv),
    mlp: jit(mlpStep),
    lenet: jit(lenetStep),
    lstmF: jit(lstmForward),
    lstmT: jit(lstmTrain),
  };
  record('matmul 1024', label, () => sync(j.matmul(matA)), gflops(2 * 1024 ** 3));
  record('LeNet conv1 (batch 32)', label, () => sync(j.conv(convIn, convW)));
  record(
    'VGG 3x3 conv 64->64 (batch 32, 32x32)',
    label,
    () => sync(j.conv(vggIn, vggW)),
    gflops(2 * 32 * 64 * 64 * 9 * 32 * 32),
  );
  record('chain on 2^20 floats', label, () => sync(j.chain(chainX)));
  record('MLP 784-512-512-10 SGD step (batch 128)', label, () => sync(j.mlp(mlpInit.params, mlpX, mlpY)));
  const o = adam.init(lenetInit.params);
  record('LeNet-5 Adam step (batch 64)', label, () => sync(j.lenet(lenetInit.params, o, lenetX, lenetY)));
  record('LSTM 64->128, 32 steps, batch 16: forward', label, () => sync(j.lstmF(lstmInit.params, lstmX)));
  record('LSTM 64->128, 32 steps, batch 16: forward+backward', label, () => sync(j.lstmT(lstmInit.params, lstmX)));
}
setCpuBackend('onnx');
// The LSTM forward as the fused ONNX `LSTM` (the rows above: the layer lowers to it) beside the same
// cell unrolled into the graph (a cell without an ONNX operator), and the exported model (a fused
// node) in onnxruntime-node itself.
{
  const workload = 'LSTM 64->128, 32 steps, batch 16: forward';
  const unrolled = nn.rnn({ ...nn.lstmCell(128), onnx: undefined });
  const jUnrolled = jit((p: unknown, x: Array) => unrolled.apply(p, lstmInit.state, x).y);
  record(workload, 'fluxion jit, scan unrolled (ONNX Runtime)', () => sync(jUnrolled(lstmInit.params, lstmX)));
  const ort = await import('onnxruntime-node');
  const bytes = onnx.exportModel((x: Array) => lstmForward(lstmInit.params, x), [lstmX], { inputNames: ['x'] });
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 2 });
  const feed = { x: new ort.Tensor('float32', lstmX.dataSync() as Float32Array, [...lstmX.shape]) };
  const times: number[] = [];
  for (let i = 0; i < REPEATS + 2; i++) {
    const t = performance.now();
    await session.run(feed);
    times.push(performance.now() - t);
  }
  const ms = times.slice(2).sort((a, b) => a - b)[REPEATS >> 1];
  rows.push({ workload, library: 'onnxruntime-node (exported, fused LSTM)', ms });
}
// The other dtypes beside float32: matmul (native double kernels; float16/bfloat16 computed in float32
// and rounded) and the LeNet-5 step in mixed precision (bfloat16 or float16 parameters and compute,
// float32 master weights in Adam; float16 with dynamic loss scaling).
const perFloat32 = (workload: string) => (ms: number) => {
  const f32 = rows.find((r) => r.workload === workload && r.library === 'fluxion jit (ONNX Runtime)');
  return f32 ? `${(ms / f32.ms).toFixed(2)}× the float32 step` : '';
};
for (const dtype of ['float64', 'float16', 'bfloat16'] as const) {
  const a = matA.astype(dtype);
  const jm = jit(matmul);
  record(
    `matmul 1024 ${dtype}`,
    'fluxion jit (ONNX Runtime)',
    () => sync(jm(a)),
    (ms) => [gflops(2 * 1024 ** 3)(ms), perFloat32('matmul 1024')(ms)].join(', '),
  );
  if (dtype === 'float64') continue;
  const model = nn.precision(lenet, { dtype, paramDtype: dtype, outputDtype: 'float32' });
  const params = model.init(random.key(8), [64, 1, 28, 28]).params;
  const mixed = optim.mixedPrecision(adam);
  const scale = dtype === 'float16' ? optim.dynamicLossScale() : null;
  const ls = scale?.init();
  const step = jit((p: unknown, o: optim.MixedPrecisionState<optim.ChainState>, x: Array, y: Array) => {
    const [l, g] = valueAndGrad((q: unknown) => {
      const loss = nn.softmaxCrossEntropy(model.apply(q, lenetInit.state, x, { training: true }).y, y);
      return scale ? scale.scale(ls!, loss) : loss;
    })(p);
    const { updates, state } = mixed.update(scale ? scale.unscale(ls!, g) : g, o, p);
    return { params: optim.applyUpdates(p, updates), opt: state, loss: l };
  });
  const o = mixed.init(params);
  record(
    `LeNet-5 Adam step (batch 64) ${dtype} mixed precision`,
    'fluxion jit (ONNX Runtime)',
    () => sync(step(params, o, lenetX, lenetY)),
    perFloat32('LeNet-5 Adam step (batch 64)'),
  );
}
try {
  const jax = await import('@jax-js/jax');
  await jax.init('wasm');
  jax.defaultDevice('wasm');
  for (const dtype of ['float64', 'float16'] as const) {
    const a = jax.numpy.astype(jax.random.normal(jax.random.key(0), [1024, 1024]), jax.numpy[dtype]);
    const jm = jax.jit((x: any) => jax.numpy.matmul(x.ref, x));
    record(`matmul 1024 ${dtype}`, 'jax-js wasm', () => jm(a.ref).dataSync(), gflops(2 * 1024 ** 3));
  }
} catch (e) {
  console.log(`jax-js dtypes skipped: ${(e as Error).message.split('\n')[0]}`);
}
record('matmul 1024', 'fluxion eager', () => sync(matmul(matA)), gflops(2 * 1024 ** 3));
record('chain on 2^20 floats', 'fluxion eager', () => sync(chain(chainX)));
record(
  'VGG 3x3 conv 64->64 (batch 32, 32x32)',
  'fluxion eager',
  () => sync(conv(vggIn, vggW)),
  gflops(2 * 32 * 64 * 64 * 9 * 32 * 32),
);
record('MLP 784-512-512-10 SGD step (batch 128)', 'fluxion eager', () => sync(mlpStep(mlpInit.params, mlpX, mlpY)));

// Linear algebra: the decompositions run in JavaScript (float64 inside) between ONNX Runtime sessions.
const solveA = np.add(random.normal(random.key(20), [256, 256]), np.multiply(np.eye(256), 16)),
  solveB = random.normal(random.key(21), [256]);
const jSolve = jit((a: Array, b: Array) => np.linalg.solve(a, b)),
  jSvd = jit((a: Array) => np.linalg.svd(a, { computeUv: false }));
record('linalg.solve 256x256 float32', 'fluxion jit (ONNX Runtime)', () => sync(jSolve(solveA, solveB)));
record('linalg.svd 256x256 float32 (values)', 'fluxion jit (ONNX Runtime)', () => sync(jSvd(solveA)));
try {
  const jax = await import('@jax-js/jax');
  await jax.init('wasm');
  jax.defaultDevice('wasm');
  const a = jax.numpy.add(
    jax.random.normal(jax.random.key(20), [256, 256]),
    jax.numpy.multiply(jax.numpy.eye(256), 16),
  );
  const b = jax.random.normal(jax.random.key(21), [256]);
  // jax-js 0.1.25's jit refuses its own triangular_solve ("input is not imm"): its solve runs eagerly.
  const js = (x: any, y: any) => jax.numpy.linalg.solve(x, y);
  const jv = jax.jit((x: any) => jax.numpy.linalg.svdvals(x));
  record(
    'linalg.solve 256x256 float32',
    'jax-js wasm',
    () => js(a.ref, b.ref).dataSync(),
    () => 'eager (its jit fails)',
  );
  record('linalg.svd 256x256 float32 (values)', 'jax-js wasm', () => jv(a.ref).dataSync());
} catch (e) {
  console.log(`jax-js linalg skipped: ${(e as Error).message.split('\n')[0]}`);
}

// ---------------------------------------------------------------- peers
try {
  const jax = await import('@jax-js/jax');
  await jax.init('wasm');
  jax.defaultDevice('wasm');
  const jnp = jax.numpy;
  const a = jax.random.normal(jax.random.key(0), [1024, 1024]);
  const jm = jax.jit((x: any) => jnp.matmul(x.ref, x));
  record('matmul 1024', 'jax-js wasm', () => jm(a.ref).dataSync(), gflops(2 * 1024 ** 3));
  const x = jax.random.normal(jax.random.key(1), [1 << 20]);
  const jc = jax.jit((x: any) =>
    jnp.subtract(jnp.multiply(jnp.tanh(jnp.add(jnp.multiply(x.ref, 2), 1)), jax.nn.sigmoid(x.ref)), jnp.divide(x, 2)),
  );
  record('chain on 2^20 floats', 'jax-js wasm', () => jc(x.ref).dataSync());
  const ps = [
    [784, 512],
    [512, 512],
    [512, 10],
  ].map(([i, o], k) => ({ w: jnp.multiply(jax.random.normal(jax.random.key(k), [i, o]), 0.05), b: jnp.zeros([o]) }));
  const xs = jax.random.normal(jax.random.key(5), [128, 784]);
  const ys = jax.nn.oneHot(jnp.remainder(jnp.arange(128), 10), 10);
  const loss = (p: any, x: any, y: any) => {
    let h = x;
    p.forEach((l: any, i: number) => {
      h = jnp.add(jnp.matmul(h, l.w), l.b);
      if (i < 2) h = jax.nn.relu(h);
    });
    return jnp.negative(jnp.mean(jnp.sum(jnp.multiply(jax.nn.logSoftmax(h), y), -1)));
  };
  const step = jax.jit((p: any, x: any, y: any) => {
    const g = jax.grad(loss)(jax.tree.ref(p), x, y);
    return jax.tree.map((a: any, b: any) => jnp.subtract(a, jnp.multiply(b, 0.01)), p, g);
  });
  record('MLP 784-512-512-10 SGD step (batch 128)', 'jax-js wasm', () =>
    jax.tree
      .leaves(step(jax.tree.ref(ps), xs.ref, ys.ref))
      .forEach((l: any) => (l as { dataSync(): unknown }).dataSync()),
  );
} catch (e) {
  console.log(`jax-js skipped: ${(e as Error).message.split('\n')[0]}`);
}
for (const backend of ['cpu', 'wasm'] as const) {
  try {
    const tf = await import('@tensorflow/tfjs-core');
    await import(backend === 'cpu' ? '@tensorflow/tfjs-backend-cpu' : '@tensorflow/tfjs-backend-wasm');
    if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend ${backend} did not start`);
    const lib = `tfjs ${backend}`;
    const read = (t: unknown) => void (t as { dataSync(): unknown }).dataSync();
    const a = tf.randomNormal([1024, 1024]);
    record('matmul 1024', lib, () => tf.tidy(() => read(tf.matMul(a, a))), gflops(2 * 1024 ** 3));
    const x = tf.randomNormal([1 << 20]);
    record('chain on 2^20 floats', lib, () =>
      tf.tidy(() => read(tf.sub(tf.mul(tf.tanh(tf.add(tf.mul(x, 2), 1)), tf.sigmoid(x)), tf.div(x, 2)))),
    );
    const ci = tf.randomNormal([32, 28, 28, 1]),
      cw = tf.randomNormal([5, 5, 1, 6]);
    record('LeNet conv1 (batch 32)', lib, () => tf.tidy(() => read(tf.conv2d(ci as never, cw as never, 1, 'same'))));
    const vi = tf.randomNormal([32, 32, 32, 64]),
      vw = tf.randomNormal([3, 3, 64, 64]);
    record(
      'VGG 3x3 conv 64->64 (batch 32, 32x32)',
      lib,
      () => tf.tidy(() => read(tf.conv2d(vi as never, vw as never, 1, 'same'))),
      gflops(2 * 32 * 64 * 64 * 9 * 32 * 32),
    );
  } catch (e) {
    console.log(`tfjs ${backend} skipped: ${(e as Error).message.split('\n')[0]}`);
  }
}

// ---------------------------------------------------------------- PyTorch, in the same run
// bench/pytorch.py (Debian python3-torch and python3-torchvision, OpenBLAS, 2 threads) as a child process.
const python = '/usr/bin/python3';
const torchMissing = (() => {
  const probe = spawnSync(python, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
  if (probe.error) return `${python} is not there`;
  return probe.status === 0 ? null : (probe.stderr.trim().split('\n').pop() ?? 'import failed');
})();
const jsonLines = (out: string) =>
  out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, number | string>);
if (torchMissing) console.log(`PyTorch rows skipped: ${torchMissing}`);
else {
  for (const kind of ['workloads', 'gpt']) {
    const r = spawnSync(python, ['bench/pytorch.py', kind], { encoding: 'utf8' });
    for (const w of jsonLines(r.stdout))
      rows.push({ workload: String(w.workload), library: 'pytorch', ms: Number(w.ms) });
  }
}

// A small GPT (GPT-2's block; 4 layers, 4 heads, width 128, context 64, vocabulary 128): the AdamW
// training step on a batch of 32 (PyTorch's same model in bench/pytorch.py), and greedy generation
// with the key/value cache (one compiled step per token).
{
  const gpt = models.gpt2({ vocabSize: 128, nPositions: 64, nEmbd: 128, nLayer: 4, nHead: 4 });
  const ids = np
    .remainder(np.arange(32 * 65), 127)
    .reshape([32, 65])
    .astype('int32');
  const [inputs, targets] = [np.slice(ids, null, [0, 64]), np.slice(ids, null, [1, 65])];
  const v = gpt.init(random.key(40), [32, 64]);
  const adamw = optim.adamw(1e-3);
  const gptStep = jit((p: unknown, o: optim.ChainState) => {
    const g = grad((q: unknown) =>
      nn.softmaxCrossEntropy(
        np.reshape(gpt.apply(q, v.state, inputs).y, [32 * 64, 128]),
        np.reshape(targets, [32 * 64]),
      ),
    )(p);
    const { updates, state } = adamw.update(g, o, p);
    return { params: optim.applyUpdates(p, updates), opt: state };
  });
  const o = adamw.init(v.params);
  record('GPT 4x128, context 64, batch 32: AdamW step', 'fluxion jit (ONNX Runtime)', () => sync(gptStep(v.params, o)));
  const greedy = models.generator(gpt, { temperature: 0 });
  const prompt = np.slice(ids, [0, 1], [0, 8]);
  record(
    'GPT 4x128: greedy generation, 56 new tokens',
    'fluxion jit (ONNX Runtime)',
    () => sync(greedy.generate(v.params, prompt, { maxNewTokens: 56 })),
    (ms) => `${((56 / ms) * 1000).toFixed(0)} tokens/s`,
  );
}

// torchvision models, each library in processes of their own (peak memory is per process): the
// Adam step, building the model, the first call and peak RSS.
const FLATTENED = 'fluxion jit, optim.flatten(adam)';
// They run the built package under plain node, as a user's program loads it, where the build is
// newer than every source (tsx, compiling the sources in the process, holds ~55 MB more); else the
// sources under tsx, and the table says which.
const builtEntry = freshBuild();
const modelStep = builtEntry ? [compiledModelStep()] : ['--import', 'tsx', 'bench/model-step.ts'];
console.log(
  `model rows: ${builtEntry ? 'the built package (node)' : 'the sources (tsx): npm run build is missing or older'}`,
);
const torchvisionModels: [string, string, number, number][] = [
  ['ResNet-18', 'resnet18', 8, 64],
  ['ResNet-50', 'resnet50', 8, 64],
  ['DenseNet-121', 'densenet121', 4, 64],
];
for (const [title, name, batch, size] of quick ? torchvisionModels.slice(0, 1) : torchvisionModels) {
  const args = [name, String(batch), String(size)];
  // Fluxion runs twice with one fresh compilation cache: cold, then warm (as a second `npm start`).
  const cache = mkdtempSync(join(tmpdir(), 'fluxion-bench-cache-'));
  const fluxionStep = (...extra: string[]) =>
    spawnSync(process.execPath, [...modelStep, ...args, ...extra], {
      encoding: 'utf8',
      env: { ...process.env, FLUXION_CACHE_DIR: cache, ...(builtEntry ? { FLUXION_ENTRY: builtEntry } : {}) },
    });
  const runs: [string, () => ReturnType<typeof spawnSync>][] = [
    ['fluxion jit (ONNX Runtime)', fluxionStep],
    [FLATTENED, () => fluxionStep('flatten')],
  ];
  if (!torchMissing)
    runs.push(['pytorch', () => spawnSync(python, ['bench/pytorch.py', 'model', ...args], { encoding: 'utf8' })]);
  for (const [library, run] of runs) {
    const out = run();
    const [m] = jsonLines(String(out.stdout));
    if (!m) {
      console.log(`${library} / ${title} failed: ${String(out.stderr).trim().split('\n').pop()}`);
      continue;
    }
    const label = `${title} (batch ${batch}, ${size}x${size})`;
    rows.push({ workload: `${label}: Adam step`, library, ms: Number(m.step) });
    if (library === FLATTENED) {
      // The same model and step with the optimizer over all small parameters at once: what changes
      // is the graph's size (the first call) and its memory.
      rows.push({ workload: `${label}: first call`, library, ms: Number(m.first), note: 'trace, lower, compile, run' });
      rows.push({ workload: `${label}: peak memory`, library, ms: Number(m.peakMB), note: 'MB (not ms)' });
      continue;
    }
    rows.push({
      workload: `${label}: building the model`,
      library,
      ms: Number(m.init ?? m.construct),
      note: library === 'pytorch' ? 'constructor' : 'model.init',
    });
    rows.push({
      workload: `${label}: first call`,
      library,
      ms: Number(m.first),
      note: library === 'pytorch' ? 'first step' : 'trace, lower, compile, run',
    });
    rows.push({ workload: `${label}: peak memory`, library, ms: Number(m.peakMB), note: 'MB (not ms)' });
    // The optimizer alone: what of the step is ONNX Runtime's elementwise kernels against PyTorch's.
    rows.push({ workload: `${label}: Adam update alone`, library, ms: Number(m.adam) });
    const [warm] = library === 'pytorch' ? [m] : jsonLines(String(fluxionStep().stdout));
    if (warm)
      rows.push({
        workload: `${label}: first call, warm compilation cache`,
        library,
        ms: Number(warm.first),
        note: `${library === 'pytorch' ? 'first step' : 'trace, load, run'}; the step alone ${Number(warm.step).toFixed(0)} ms`,
      });
  }
  rmSync(cache, { recursive: true, force: true });
}

// ResNet-18 inference against ONNX Runtime running PyTorch's own export of it: the runtime's limit.
if (!torchMissing) {
  const file = `${tmpdir()}/fluxion-bench-resnet18.onnx`;
  const ex = spawnSync(python, ['bench/pytorch.py', 'export', 'resnet18', '32', '64', file], { encoding: 'utf8' });
  if (ex.status !== 0) console.log(`ResNet-18 export skipped: ${ex.stderr.trim().split('\n').pop()}`);
  else {
    const ort = await import('onnxruntime-node');
    // Fluxion's thread settings, so that neither session's idle threads spin through the other's runs.
    const session = await ort.InferenceSession.create(file, {
      intraOpNumThreads: 2,
      graphOptimizationLevel: 'all',
      extra: { session: { 'intra_op.spin_duration_us': '1000' } },
    });
    const input = random.normal(random.key(30), [32, 3, 64, 64]);
    const feed = { x: new ort.Tensor('float32', input.dataSync() as Float32Array, [32, 3, 64, 64]) };
    const times: number[] = [];
    for (let i = 0; i < 8; i++) {
      const t = performance.now();
      await session.run(feed);
      times.push(performance.now() - t);
    }
    const workload = 'ResNet-18 inference (batch 32, 64x64)';
    rows.push({ workload, library: "onnxruntime-node (PyTorch's export)", ms: times.sort((a, b) => a - b)[4] });
    const net = models.resnet18({ numClasses: 10 });
    const v = net.init(random.key(31), [32, 3, 64, 64]);
    const infer = jit((p: unknown, x: Array) => net.apply(p, v.state, x).y);
    record(workload, 'fluxion jit (ONNX Runtime)', () => sync(infer(v.params, input)));
    // Weights closed over are the program's constants, built into the session as in PyTorch's export.
    const deployed = jit((x: Array) => net.apply(v.params, v.state, x).y);
    record(workload, 'fluxion jit, weights closed over (ONNX Runtime)', () => sync(deployed(input)));
  }
}

// Spawn to first result: a fresh process that imports Fluxion and runs one jitted step.
const t0 = performance.now();
const spawned = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--input-type=module',
    '-e',
    "import { jit, np } from './src/index.ts'; jit((x) => np.sum(np.exp(x)))(np.ones([4])).item();",
  ],
  { encoding: 'utf8' },
);
if (spawned.status === 0)
  rows.push({ workload: 'spawn to first jit result', library: 'fluxion (node + tsx)', ms: performance.now() - t0 });
// The same from the built package (npm run build), as a user's program loads it.
const built = 'dist/bundle/src/index.js';
if ((await import('node:fs')).existsSync(built)) {
  const t1 = performance.now();
  const run = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { jit, np } from './${built}'; jit((x) => np.sum(np.exp(x)))(np.ones([4])).item();`,
    ],
    { encoding: 'utf8' },
  );
  if (run.status === 0)
    rows.push({ workload: 'spawn to first jit result', library: 'fluxion (node, built)', ms: performance.now() - t1 });
} else console.log(`built startup row skipped: ${built} is missing (npm run build)`);

/** The built package's entry (a file URL) when it is newer than every source file; else null. */
function freshBuild(): string | null {
  const entry = 'dist/bundle/src/index.js';
  if (!existsSync(entry)) return null;
  const newest = (dir: string): number =>
    Math.max(
      ...readdirSync(dir, { withFileTypes: true }).map((d) =>
        d.isDirectory() ? newest(join(dir, d.name)) : statSync(join(dir, d.name)).mtimeMs,
      ),
    );
  return statSync(entry).mtimeMs > Math.max(newest('src'), newest('kernels')) ? pathToFileURL(entry).href : null;
}
/** bench/model-step.ts as JavaScript for plain node (types stripped by esbuild), in a temporary folder. */
function compiledModelStep(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'fluxion-bench-')), 'model-step.mjs');
  const { code } = transformSync(readFileSync('bench/model-step.ts', 'utf8'), { loader: 'ts', format: 'esm' });
  writeFileSync(file, code);
  return file;
}

// ---------------------------------------------------------------- one table
const best = new Map<string, number>();
for (const r of rows) best.set(r.workload, Math.min(best.get(r.workload) ?? Infinity, r.ms));
console.log('\n| workload | library | median ms | × fastest | note |\n|---|---|---:|---:|---|');
for (const r of rows.sort((a, b) => a.workload.localeCompare(b.workload) || a.ms - b.ms)) {
  console.log(
    `| ${r.workload} | ${r.library} | ${r.ms.toFixed(2)} | ${(r.ms / best.get(r.workload)!).toFixed(2)} | ` +
      `${r.note ?? ''} |`,
  );
}
process.exit(0);
