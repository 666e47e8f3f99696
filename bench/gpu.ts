// WebGPU benchmarks against peers on the same adapter, printed as one table.
// Run on a GPU: npx tsx bench/gpu.ts            (sizes as in docs/performance.md)
// Smoke run on a software adapter: npx tsx bench/gpu.ts --small
import { create, globals } from 'webgpu';
import {
  type Array,
  grad,
  initWebGPU,
  jit,
  models,
  nn,
  np,
  optim,
  random,
  toDevice,
  valueAndGrad,
} from '../src/index.js';

const small = process.argv.includes('--small');
Object.assign(globalThis, globals);
// One GPU instance for every library, so all run on the same adapter.
const backend = process.env.FLUXION_WEBGPU_BACKEND;
const gpuInstance = create(backend ? [`backend=${backend}`] : []);
// jax-js reads navigator.userAgent (Node 20 has no navigator).
if (!(globalThis as any).navigator) (globalThis as any).navigator = { userAgent: `Node.js/${process.version}` };
// On GPU-less machines only Dawn's OpenGL ES adapter exists, and only in compatibility mode.
const gpuForAll = {
  requestAdapter: (o: object = {}) =>
    gpuInstance.requestAdapter(backend === 'opengles' ? { featureLevel: 'compatibility', ...o } : o),
  getPreferredCanvasFormat: () => 'rgba8unorm',
  wgslLanguageFeatures: new Set(),
};
Object.defineProperty((globalThis as any).navigator, 'gpu', { value: gpuForAll, configurable: true });
const dev = await initWebGPU();
if (!dev) throw new Error('bench/gpu: no WebGPU adapter');
console.log(`adapter: ${dev.adapterInfo}${dev.software ? ' (software)' : ''}`);

type Row = { lib: string; bench: string; ms: number; gflops?: number };
const rows: Row[] = [];
async function time(
  lib: string,
  bench: string,
  flops: number,
  run: () => unknown,
  sync: (r: unknown) => Promise<unknown>,
  reps = small ? 3 : 10,
) {
  await sync(run());
  const t0 = performance.now();
  let r: unknown;
  for (let i = 0; i < reps; i++) r = run();
  await sync(r);
  const ms = (performance.now() - t0) / reps;
  rows.push({ lib, bench, ms, gflops: flops ? flops / ms / 1e6 : undefined });
}
const fx = async (r: unknown) => (r as Array).data();
const up = (x: Array) => toDevice(x, 'webgpu');

// ---------------------------------------------------------------- fluxion
const sizes = small ? [128, 256] : [1024, 2048, 4096];
for (const n of sizes) {
  const a = await up(random.normal(random.key(0), [n, n]));
  const mm = jit((x: Array, y: Array) => np.matmul(x, y));
  await time('fluxion', `matmul ${n}`, 2 * n ** 3, () => mm(a, a), fx);
}
const convs: [number, number, number][] = small
  ? [[8, 8, 16]]
  : [
      [64, 64, 56],
      [128, 128, 28],
      [256, 256, 14],
      [512, 512, 7],
    ];
const batch = small ? 2 : 8;
for (const [cin, cout, hw] of convs) {
  const x = await up(random.normal(random.key(1), [batch, cin, hw, hw]));
  const w = await up(random.normal(random.key(2), [cout, cin, 3, 3]));
  const conv = jit((x: Array, w: Array) => nn.functional.conv2d(x, w, null, { padding: 1 }));
  await time(
    'fluxion',
    `resnet18 conv ${cin}->${cout} @${hw}`,
    2 * batch * cout * hw * hw * cin * 9,
    () => conv(x, w),
    fx,
  );
}
{
  const [b, d, h] = small ? [16, 64, 32] : [128, 784, 512];
  const model = nn.serial(nn.dense(h), nn.relu, nn.dense(h), nn.relu, nn.dense(10));
  const { params } = model.init(random.key(0), [b, d]);
  const gp: any = {};
  for (const [k, v] of Object.entries(params as Record<string, any>))
    gp[k] = v.weight ? { weight: await up(v.weight), bias: await up(v.bias) } : v;
  const x = await up(random.normal(random.key(1), [b, d]));
  const y = await up(random.randint(random.key(2), [b], 0, 10));
  const opt = optim.sgd(0.01);
  const step = jit((p: unknown, xb: Array, yb: Array) => {
    const [l, g] = valueAndGrad((q: unknown) => nn.softmaxCrossEntropy(model.apply(q, {}, xb).y, yb))(p);
    return { p: optim.applyUpdates(p, opt.update(g, opt.init(p), p).updates), l };
  });
  const flops = 6 * b * (d * h + h * h + h * 10);
  await time(
    'fluxion',
    `MLP ${d}-${h}-${h}-10 train step b${b}`,
    flops,
    () => step(gp, x, y),
    async (r) => (r as { l: Array }).l.data(),
  );
}
{
  const b = small ? 8 : 64;
  const model = models.lenet5();
  const { params } = model.init(random.key(0), [b, 1, 28, 28]);
  const gp: any = {};
  for (const [k, v] of Object.entries(params as Record<string, any>))
    gp[k] = v.weight ? { weight: await up(v.weight), bias: await up(v.bias) } : v;
  const x = await up(random.normal(random.key(1), [b, 1, 28, 28]));
  const y = await up(random.randint(random.key(2), [b], 0, 10));
  const step = jit((p: unknown, xb: Array, yb: Array) =>
    grad((q: unknown) => nn.softmaxCrossEntropy(model.apply(q, {}, xb).y, yb))(p),
  );
  await time(
    'fluxion',
    `LeNet-5 gradient b${b}`,
    3 * b * 0.83e6,
    () => step(gp, x, y),
    async (r) => (r as any).fc3.bias.data(),
  );
}

// ---------------------------------------------------------------- peers (same adapter)
try {
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-webgpu');
  await tf.setBackend('webgpu');
  await tf.ready();
  for (const n of sizes) {
    const a = tf.randomNormal([n, n]);
    await time(
      'tfjs-webgpu',
      `matmul ${n}`,
      2 * n ** 3,
      () => tf.matMul(a, a),
      (r) => (r as any).data(),
    );
  }
  for (const [cin, cout, hw] of convs) {
    const x = tf.randomNormal([batch, hw, hw, cin]);
    const w = tf.randomNormal([3, 3, cin, cout]);
    await time(
      'tfjs-webgpu',
      `resnet18 conv ${cin}->${cout} @${hw}`,
      2 * batch * cout * hw * hw * cin * 9,
      () => tf.conv2d(x as any, w as any, 1, 'same'),
      (r) => (r as any).data(),
    );
  }
} catch (e) {
  console.log(`tfjs-webgpu skipped: ${(e as Error).message}`);
}
try {
  const jax = await import('@jax-js/jax');
  await jax.init('webgpu' as any);
  jax.defaultDevice('webgpu' as any);
  for (const n of sizes) {
    const a = jax.random.normal(jax.random.key(0), [n, n]);
    const mm = jax.jit((x: any, y: any) => jax.numpy.matmul(x, y));
    await time(
      'jax-js',
      `matmul ${n}`,
      2 * n ** 3,
      () => mm(a.ref, a.ref),
      async (r) => (r as any).data(),
    );
  }
} catch (e) {
  console.log(`jax-js skipped: ${(e as Error).message}`);
}

console.log('| library | benchmark | ms | GFLOP/s |\n|---|---|---:|---:|');
for (const r of rows) console.log(`| ${r.lib} | ${r.bench} | ${r.ms.toFixed(2)} | ${r.gflops?.toFixed(2) ?? ''} |`);
process.exit(0);
