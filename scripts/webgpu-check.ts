// WebGPU on whatever adapter this machine has (a real GPU: FLUXION_WEBGPU_BACKEND=vulkan): what it is and
// offers, and jitted functions whose results must equal the CPU's. Run: npx tsx scripts/webgpu-check.ts
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
const dev = await initWebGPU();
if (!dev) throw new Error('no WebGPU adapter');
const { create } = await import('webgpu');
const adapter = await create(
  process.env.FLUXION_WEBGPU_BACKEND ? [`backend=${process.env.FLUXION_WEBGPU_BACKEND}`] : [],
).requestAdapter();
console.log(`adapter: ${dev.adapterInfo}${dev.software ? ' (software)' : ''}`);
console.log(`device features: ${[...dev.device.features].sort().join(', ')}`);
console.log(`limits: storage buffers ${dev.maxStorageBuffers}, binding ${dev.maxBindingBytes}, tile ${dev.tile}`);
if (adapter)
  console.log(
    `adapter features: ${[...adapter.features].sort().join(', ')}\nadapter info: ${JSON.stringify(adapter.info)}`,
  );
let failed = 0;
const up = (x: Array) => toDevice(x, 'webgpu');
const cmp = async (name: string, cpu: Array[], gpu: Array[], tol: number) => {
  let worst = 0;
  for (let i = 0; i < cpu.length; i++) {
    const a = cpu[i].dataSync() as Float32Array,
      b = (await gpu[i].data()) as Float32Array;
    for (let j = 0; j < a.length; j++) worst = Math.max(worst, Math.abs(a[j] - b[j]) / (1 + Math.abs(a[j])));
  }
  const ok = worst <= tol && Number.isFinite(worst);
  if (!ok) failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: max relative difference ${worst.toExponential(2)} (tolerance ${tol})`);
};
const run = async (name: string, f: (...xs: Array[]) => Array | Array[], xs: Array[], tol = 1e-4) => {
  try {
    const cpu = [jit(f)(...xs)].flat();
    const gpu = [jit(f, { device: 'webgpu' })(...(await Promise.all(xs.map(up))))].flat();
    await cmp(name, cpu, gpu, tol);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${(e as Error).message.split('\n')[0].slice(0, 300)}`);
  }
};
const k = (i: number) => random.key(i);
await run(
  'matmul 512',
  (a, b) => np.matmul(a, b),
  [random.normal(k(0), [512, 512]), random.normal(k(1), [512, 512])],
  1e-3,
);
await run('elementwise chain', (x) => np.tanh(np.add(np.multiply(np.exp(np.negative(np.abs(x))), 3), np.sin(x))), [
  random.normal(k(2), [1 << 20]),
]);
await run(
  'reductions',
  (x) => [np.sum(x, { axis: 1 }), np.max(x, { axis: 0 }), np.mean(x)],
  [random.normal(k(3), [300, 700])],
  1e-4,
);
await run(
  'conv2d + grad',
  (x, w) => grad((w2: Array) => np.sum(np.square(nn.functional.conv2d(x, w2, null, { padding: 1 }))))(w),
  [random.normal(k(4), [8, 16, 32, 32]), random.normal(k(5), [32, 16, 3, 3])],
  1e-3,
);
await run(
  'float16 storage',
  (x) => np.astype(np.multiply(np.astype(x, 'float16'), 2), 'float32'),
  [random.normal(k(6), [4096])],
  1e-3,
);
await run(
  'bfloat16 storage',
  (x) => np.astype(np.add(np.astype(x, 'bfloat16'), 1), 'float32'),
  [random.normal(k(7), [4096])],
  1e-2,
);
await run(
  'int8 packed',
  (x) => np.astype(np.add(np.astype(np.multiply(x, 50), 'int8'), 3), 'float32'),
  [random.normal(k(8), [4097])],
  0,
);
// A LeNet-5 Adam step on the GPU equals the CPU's.
const model = models.lenet5();
const init = model.init(k(9), [64, 1, 28, 28]);
const adam = optim.adam(1e-3);
const step = (p: any, s: any, x: Array, y: Array) => {
  const [l, g] = valueAndGrad((q: any) =>
    nn.softmaxCrossEntropy(model.apply(q, init.state, x, { training: true }).y, y),
  )(p);
  const u = adam.update(g, s, p);
  return [l, ...(Object.values(optim.applyUpdates(p, u.updates)) as any[]).flatMap((v) => Object.values(v) as Array[])];
};
try {
  const x = random.normal(k(10), [64, 1, 28, 28]),
    y = np.remainder(np.arange(64), 10).astype('int32');
  const cpu = jit(step)(init.params, adam.init(init.params), x, y) as Array[];
  const upTree = async (t: any): Promise<any> =>
    t && typeof t === 'object' && !(t as any).shape
      ? Object.fromEntries(await Promise.all(Object.entries(t).map(async ([a, b]) => [a, await upTree(b)])))
      : t?.shape
        ? up(t)
        : t;
  const gpuStep = jit(step, { device: 'webgpu' });
  const gpu = gpuStep(
    await upTree(init.params),
    await upTree(adam.init(init.params)),
    await up(x),
    await up(y),
  ) as Array[];
  await cmp('LeNet-5 Adam step', cpu, gpu, 1e-3);
  let p = await upTree(init.params),
    s = await upTree(adam.init(init.params));
  const warm = jit(
    (p: any, s: any, x: Array, y: Array) => {
      const [l, g] = valueAndGrad((q: any) =>
        nn.softmaxCrossEntropy(model.apply(q, init.state, x, { training: true }).y, y),
      )(p);
      const u = adam.update(g, s, p);
      return { p: optim.applyUpdates(p, u.updates), s: u.state, l };
    },
    { device: 'webgpu', donateArgnums: [0, 1] },
  );
  const xg = await up(x),
    yg = await up(y);
  for (let i = 0; i < 5; i++) ({ p, s } = warm(p, s, xg, yg));
  let r: any;
  const t0 = performance.now();
  for (let i = 0; i < 50; i++) {
    r = warm(p, s, xg, yg);
    ({ p, s } = r);
  }
  await r.l.data();
  console.log(`LeNet-5 Adam step (batch 64) on WebGPU: ${((performance.now() - t0) / 50).toFixed(2)} ms`);
} catch (e) {
  failed++;
  console.log(`FAIL LeNet-5 step: ${(e as Error).message.split('\n')[0].slice(0, 300)}`);
}
console.log(failed ? `${failed} FAILED` : 'all WebGPU checks passed');
process.exit(failed ? 1 : 0);
