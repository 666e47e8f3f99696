// Dispatch-cost and CPU-throughput benchmarks, printed as one table. Run: npm run bench
// Peers (tfjs-core with its CPU backend, jax-js) are compared in the same run.
import { type Array, grad, jit, np, random } from '../src/index.js';

function time(fn: () => unknown, minMs = 300): number {
  // Warm up first, so every library is measured with its code optimised by V8.
  const w0 = performance.now();
  while (performance.now() - w0 < minMs / 2) fn();
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < minMs) {
    fn();
    n++;
  }
  return ((performance.now() - t0) * 1000) / n; // microseconds per call
}

const rows: [string, string, number, string][] = [];
const tiny = np.ones([]);
rows.push(['fluxion', 'eager add, 0-d (dispatch)', time(() => np.add(tiny, tiny)), 'µs/op']);
const jadd = jit((a: Array, b: Array) => np.add(a, b));
rows.push(['fluxion', 'jit cache hit, 0-d add', time(() => jadd(tiny, tiny)), 'µs/call']);
const mlp = (w: { a: Array; b: Array }, x: Array) => np.sum(np.tanh(np.matmul(np.tanh(np.matmul(x, w.a)), w.b)));
const w = { a: random.normal(random.key(0), [64, 64]), b: random.normal(random.key(1), [64, 1]) };
const x = random.normal(random.key(2), [32, 64]);
rows.push(['fluxion', 'grad MLP 32x64x64 eager', time(() => grad(mlp)(w, x)), 'µs/step']);
const g = jit(grad(mlp));
rows.push(['fluxion', 'grad MLP 32x64x64 jit', time(() => g(w, x)), 'µs/step']);
for (const n of [128, 256]) {
  const a = random.normal(random.key(3), [n, n]);
  const us = time(() => np.matmul(a, a));
  rows.push(['fluxion', `matmul ${n}`, (2 * n ** 3) / us / 1e3, 'GFLOP/s']);
}

// Peers in the same run (devDependencies): TensorFlow.js's CPU backend and jax-js (cpu and wasm).
try {
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-cpu');
  await tf.setBackend('cpu');
  const s = tf.scalar(1);
  rows.push(['tfjs-cpu', 'eager add, 0-d (dispatch)', time(() => tf.tidy(() => tf.add(s, s))), 'µs/op']);
  for (const n of [128, 256]) {
    const a = tf.randomNormal([n, n]);
    const us = time(() => tf.tidy(() => tf.matMul(a, a).dataSync()));
    rows.push(['tfjs-cpu', `matmul ${n}`, (2 * n ** 3) / us / 1e3, 'GFLOP/s']);
  }
} catch (e) {
  console.log(`tfjs skipped: ${(e as Error).message}`);
}
for (const device of ['cpu', 'wasm'] as const) {
  try {
    const jax = await import('@jax-js/jax');
    await jax.init(device);
    jax.defaultDevice(device);
    const s = jax.numpy.array(1);
    rows.push([
      `jax-js-${device}`,
      'eager add, 0-d (dispatch)',
      time(() => jax.numpy.add(s.ref, s.ref).dispose()),
      'µs/op',
    ]);
    const jadd = jax.jit((a: any, b: any) => jax.numpy.add(a, b));
    rows.push([`jax-js-${device}`, 'jit cache hit, 0-d add', time(() => jadd(s.ref, s.ref).dispose()), 'µs/call']);
    for (const n of [128, 256]) {
      const a = jax.random.normal(jax.random.key(0), [n, n]);
      const us = time(() => jax.numpy.matmul(a.ref, a.ref).dataSync());
      rows.push([`jax-js-${device}`, `matmul ${n}`, (2 * n ** 3) / us / 1e3, 'GFLOP/s']);
    }
  } catch (e) {
    console.log(`jax-js ${device} skipped: ${(e as Error).message}`);
  }
}

console.log('| library | benchmark | value | unit |\n|---|---|---:|---|');
for (const [lib, name, v, unit] of rows)
  console.log(`| ${lib} | ${name} | ${v.toFixed(unit === 'GFLOP/s' ? 3 : 1)} | ${unit} |`);
