// The WebGPU backend against the CPU backend: every primitive sample, fused graphs, a jitted
// training step, emitted WGSL, and memory. Runs on whatever adapter exists (Mesa llvmpipe in
// CI); with CI=true a missing adapter fails the run instead of skipping.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DType,
  ConcreteArray,
  DTypeError,
  type Array,
  GpuArray,
  jit,
  grad,
  kernelPlan,
  lax,
  pmap,
  makeGraph,
  memoryStats,
  models,
  nn,
  np,
  optim,
  random,
  toDevice,
  initWebGPU,
  tree,
  valueAndGrad,
  vjp,
  vmap,
} from '../src/index.js';
import { bind } from '../src/core/trace.js';
import { type Tolerance, samples, assertClose } from '../laws/index.js';
import { subGraphs } from '../src/core/ir.js';
import { installProcessGroup } from '../src/primitives/collectives.js';
import { STORAGE } from '../src/core/dtype.js';
import { compile, submitScoped, webgpuPoolStats } from '../src/backend/webgpu.js';
import { lowerGraph } from '../kernels/emit.js';
import { prepareGraph } from '../src/compile/plan.js';

let available = false;
let ran = 0;
beforeAll(async () => {
  const dev = await initWebGPU();
  available = dev !== null;
  if (!available && process.env.CI)
    throw new Error('CI=true but no WebGPU adapter: install libegl1 libegl-mesa0 libgles2 mesa-vulkan-drivers');
  if (!available) console.log('WebGPU tests skipped: no adapter on this machine');
  else console.log(`WebGPU adapter: ${dev!.adapterInfo}`);
});
afterAll(() => console.log(`WebGPU tests run: ${ran}`));

/** Runs `fn` only with an adapter; counts the WebGPU tests that really ran. */
const gpuIt = (name: string, fn: () => Promise<void>) =>
  it(name, async (ctx) => {
    if (!available) return ctx.skip();
    await fn();
    ran++;
  });

const host = async (x: Array) => (x instanceof GpuArray ? toDevice(x, 'cpu') : x);
const up = (x: Array) => toDevice(x, 'webgpu');
// Transcendentals on the GPU use their own approximations; the float32 tolerance is relative to the largest value.
const tol = { rtol: 2e-4, atol: 2e-5 };
// Refused with a clear error: whileLoop needs its predicate on the host every step.
const unsupported: Record<string, RegExp> = {
  while: /whileLoop needs its predicate on the host every step/,
};

describe('webgpu: every primitive sample equals the CPU result', () => {
  for (const row of samples()) {
    const name = row.prim.name;
    if (row.noEval || row.mappedOnly) continue;
    if (unsupported[name]) {
      gpuIt(`${row.label}: refused with a clear error`, async () => {
        const ins = await Promise.all(row.inputs.map(up));
        expect(() => bind(row.prim, ins, row.params)).toThrow(unsupported[name]);
      });
      continue;
    }
    gpuIt(row.label, async () => {
      const cpu = bind(row.prim, row.inputs, row.params);
      const gpu = bind(row.prim, await Promise.all(row.inputs.map(up)), row.params);
      for (let i = 0; i < cpu.length; i++) {
        const g = await host(gpu[i]);
        if (cpu[i].dtype === 'float32') assertClose(g, cpu[i], tol, `${row.label} output ${i}`);
        else expect(globalThis.Array.from(g.dataSync())).toEqual(globalThis.Array.from(cpu[i].dataSync()));
      }
    });
  }
});

// The narrow dtypes compute in f32/i32 words and round after every operation, as on the CPU.
const NARROW: Record<string, [DType, Tolerance][]> = {
  float32: [
    ['float16', { rtol: 2e-3, atol: 1e-3 }],
    ['bfloat16', { rtol: 1.6e-2, atol: 8e-3 }],
  ],
  int32: [['int8', { rtol: 0, atol: 0 }]],
  uint32: [['uint8', { rtol: 0, atol: 0 }]],
};
describe('webgpu: every primitive sample in float16, bfloat16, int8 and uint8 equals the CPU result', () => {
  for (const row of samples()) {
    if (row.noEval || row.mappedOnly || unsupported[row.prim.name] || subGraphs(row.params).length) continue;
    for (const from of new Set(row.inputs.map((x) => x.dtype)))
      for (const [to, tol] of NARROW[from] ?? []) {
        const inputs = row.inputs.map((x) => (x.dtype === from ? x.astype(to) : x));
        try {
          row.prim.abstractEval(
            inputs.map((x) => x.aval),
            row.params,
          );
        } catch {
          continue; // the primitive does not take this dtype
        }
        gpuIt(`${row.label} in ${to}`, async () => {
          const cpu = bind(row.prim, inputs, row.params);
          const gpu = bind(row.prim, await Promise.all(inputs.map(up)), row.params);
          for (let i = 0; i < cpu.length; i++) {
            const g = await host(gpu[i]);
            expect(g.dtype).toBe(cpu[i].dtype);
            assertClose(g, cpu[i], tol, `${row.label} in ${to}, output ${i}`);
          }
        });
      }
  }
});

describe('emitted WGSL (no device needed)', () => {
  const kernelsOf = (f: (...xs: Array[]) => Array, ...xs: Array[]) =>
    lowerGraph(prepareGraph(makeGraph(f)(...xs)), 8, 16).kernels;
  it('a fused elementwise chain with a transpose and a broadcast', () => {
    const ks = kernelsOf((x, b) => np.tanh(np.add(np.transpose(x), b)), np.ones([3, 2]), np.ones([3]));
    expect(ks.length).toBe(1);
    expect(ks[0].code.slice(ks[0].code.indexOf('@group'))).toMatchSnapshot();
  });
  it('a reduction with a fused prologue', () => {
    const ks = kernelsOf((x) => np.max(np.exp(x), { axis: 0 }), np.ones([4, 5]));
    expect(ks.map((k) => k.name)).toEqual(['reduce_max']);
    expect(ks[0].code.slice(ks[0].code.indexOf('@group'))).toMatchSnapshot();
  });
  it('a long reduction is split into partial reductions of 2^16-element chunks', () => {
    const ks = kernelsOf((x) => np.sum(x, { axis: [0, 1] }), np.ones([3, 2 ** 16, 2]));
    expect(ks.map((k) => k.name)).toEqual(['reduce_sum', 'reduce_sum']);
    expect(kernelsOf((x) => np.sum(x), np.ones([2 ** 16])).length).toBe(1);
  });
  it('bias and activation fuse into the matrix product as an epilogue', () => {
    const ks = kernelsOf(
      (x, w, b) => nn.functional.relu(np.add(np.matmul(x, w), b)),
      np.ones([8, 5]),
      np.ones([5, 3]),
      np.ones([3]),
    );
    expect(ks.length).toBe(1);
    expect(ks[0].fused).toContain('dot_general');
    expect(ks[0].code).toContain('let o = (bi * 8u + row) * 3u + col;');
  });
  it('a tiled matrix product', () => {
    const ks = kernelsOf((a, b) => np.matmul(a, b), np.ones([130, 17]), np.ones([17, 70]));
    expect(ks[0].grid).toEqual([2, 3, 1]); // 64x64 outputs per workgroup, 4x4 per thread
    expect(ks[0].code.slice(ks[0].code.indexOf('@group'))).toMatchSnapshot();
  });
});

describe('webgpu: fused graphs and training', () => {
  gpuIt('an elementwise chain with views is one kernel', async () => {
    const f = (x: Array, y: Array) => np.tanh(np.add(np.multiply(np.transpose(x), 2), np.exp(y)));
    const x = random.normal(random.key(0), [3, 4]),
      y = random.normal(random.key(1), [4, 3]);
    const ex = compile(makeGraph(f)(x, y));
    expect(ex.kernels.length).toBe(1);
    expect(ex.kernels[0].code).toContain('tanh_(');
    expect(ex.kernels[0].code).toContain('exp(');
    assertClose(await host(jit(f)(await up(x), await up(y))), f(x, y), tol);
  });
  gpuIt('long reductions cooperate within a workgroup and match the CPU', async () => {
    const x = random.normal(random.key(6), [3, 5000]);
    for (const f of [
      (v: Array) => np.sum(v, { axis: 1 }),
      (v: Array) => np.max(np.abs(v)),
      (v: Array) => np.min(np.transpose(v), { axis: 0 }),
    ]) {
      const g = makeGraph(f)(x);
      expect(compile(g).kernels.some((k) => k.code.includes('workgroupBarrier'))).toBe(true);
      assertClose(await host(jit(f)(await up(x))), f(x), { rtol: 1e-4, atol: 1e-4 });
    }
  });
  gpuIt('a reduction reads its fused prologue', async () => {
    const f = (x: Array) => np.sum(np.square(np.subtract(x, 1)), { axis: 1 });
    const g = makeGraph(f)(np.ones([5, 7]));
    expect(compile(g).kernels.map((k) => k.name)).toEqual(['reduce_sum']);
    const x = random.normal(random.key(2), [5, 7]);
    assertClose(await host(jit(f)(await up(x))), f(x), tol);
  });
  gpuIt('a jitted MLP training step equals the CPU step, with a handful of kernels per layer', async () => {
    const model = nn.serial(nn.dense(32), nn.relu, nn.dense(32), nn.relu, nn.dense(10));
    const { params } = model.init(random.key(0), [16, 64]);
    const x = random.normal(random.key(1), [16, 64]);
    const y = random.randint(random.key(2), [16], 0, 10);
    const opt = optim.sgd(0.1);
    const step = (p: unknown, xb: Array, yb: Array) => {
      const [l, g] = valueAndGrad((q: unknown) => nn.softmaxCrossEntropy(model.apply(q, {}, xb).y, yb))(p);
      return { params: optim.applyUpdates(p, opt.update(g, opt.init(p), p).updates), loss: l };
    };
    const plan = kernelPlan(makeGraph(step)(params, x, y));
    const kernels = plan.split('\n').length;
    console.log(`MLP step plan (${kernels} kernels):\n${plan}`);
    // Per layer: forward dot (+bias, ReLU), backward dots, relu mask, bias sum, two updates.
    expect(kernels).toBeLessThanOrEqual(8 * 3);
    const cpu = jit(step)(params, x, y);
    const gp = { ...params } as any;
    for (const k of Object.keys(gp))
      if (gp[k].weight) gp[k] = { weight: await up(gp[k].weight), bias: await up(gp[k].bias) };
    const gpu = jit(step)(gp, await up(x), await up(y));
    assertClose(await host(gpu.loss), cpu.loss, tol);
    assertClose(await host(gpu.params['4'].weight), cpu.params['4'].weight, tol);
    assertClose(await host(gpu.params['0'].weight), cpu.params['0'].weight, tol);
  });
  gpuIt(
    'Adam and RAdam steps (bias corrections in float32: WGSL has no float64) run on the device and equal the CPU',
    async () => {
      const params = { w: random.normal(random.key(4), [64, 32]), b: random.normal(random.key(5), [32]) };
      const g = { w: random.normal(random.key(6), [64, 32]), b: random.normal(random.key(7), [32]) };
      for (const opt of [optim.adam(1e-2), optim.radam(1e-2)]) {
        const step = (p: any, s: any, grads: any) => {
          const r = opt.update(grads, s, p);
          return { params: optim.applyUpdates(p, r.updates), state: r.state };
        };
        let cpu = { params: params as any, state: opt.init(params) };
        let gpu = { params: { w: await up(params.w), b: await up(params.b) } as any, state: opt.init(params) };
        const gg = { w: await up(g.w), b: await up(g.b) };
        for (let i = 0; i < 3; i++) {
          cpu = jit(step)(cpu.params, cpu.state, g);
          gpu = jit(step, { device: 'webgpu' })(gpu.params, gpu.state, gg);
        }
        assertClose(await host(gpu.params.w), cpu.params.w, tol);
        assertClose(await host(gpu.params.b), cpu.params.b, tol);
      }
    },
  );
  gpuIt('np.linalg solve, det, inv, qr, svd, eigh and gradients run on the device and equal the CPU', async () => {
    const a = np.add(random.normal(random.key(3), [3, 4, 4]), np.multiply(np.eye(4), 4));
    const b = random.normal(random.key(4), [3, 4]);
    const f = (m: Array, v: Array) => ({
      x: np.linalg.solve(m, np.expandDims(v, -1)),
      det: np.linalg.det(m),
      inv: np.linalg.inv(m),
      g: grad((q: Array) => np.sum(np.linalg.solve(q, np.expandDims(v, -1))))(m),
      l: np.linalg.cholesky(np.matmul(m, np.swapaxes(m, -1, -2))),
      r: np.abs(np.linalg.qr(m, { mode: 'r' })),
      s: np.linalg.svdvals(m),
      w: np.linalg.eigvalsh(np.add(m, np.swapaxes(m, -1, -2))),
      gs: grad((q: Array) => np.sum(np.linalg.svdvals(q)))(m),
    });
    const cpu = f(a, b);
    const gpu = jit(f)(await up(a), await up(b));
    for (const k of ['x', 'det', 'inv', 'g', 'l', 'r', 's', 'w', 'gs'] as const)
      assertClose(await host(gpu[k]), cpu[k], { rtol: 1e-3, atol: 1e-4 }, k);
    expect(kernelPlan(makeGraph(f)(a, b))).toMatch(/lu/);
  });
  gpuIt('LeNet-5 forward and gradient agree with the CPU', async () => {
    const model = models.lenet5();
    const { params } = model.init(random.key(0), [2, 1, 28, 28]);
    const x = random.normal(random.key(3), [2, 1, 28, 28]);
    const loss = (p: any, xb: Array) => np.sum(model.apply(p, {}, xb).y as Array);
    const cpu = grad(loss)(params, x);
    const gparams: any = {};
    for (const [k, v] of Object.entries(params as Record<string, any>))
      gparams[k] = v.weight ? { weight: await up(v.weight), bias: await up(v.bias) } : v;
    const gpu = jit(grad(loss))(gparams, await up(x));
    assertClose(await host(gpu.conv1.weight), cpu.conv1.weight, { rtol: 1e-3, atol: 1e-4 });
    assertClose(await host(gpu.fc3.bias), cpu.fc3.bias, { rtol: 1e-3, atol: 1e-4 });
  });
  gpuIt(
    'dotProductAttention (causal, grouped-query) and its gradient under jit and vmap agree with the CPU',
    async () => {
      const [q, k, v] = [
        [2, 5, 4, 8],
        [2, 5, 2, 8],
        [2, 5, 2, 8],
      ].map((shape, i) => random.normal(random.key(20 + i), shape));
      const loss = (qq: Array, kk: Array, vv: Array) =>
        np.sum(np.square(nn.functional.dotProductAttention(qq, kk, vv, { isCausal: true })));
      const perExample = vmap(grad(loss, { argnums: [0, 1, 2] }));
      const cpu = perExample(q, k, v) as Array[];
      const gpu = jit(perExample)(await up(q), await up(k), await up(v)) as Array[];
      for (let i = 0; i < 3; i++) assertClose(await host(gpu[i]), cpu[i], { rtol: 1e-3, atol: 1e-4 });
    },
  );
  gpuIt('GPT-2 generation with its key/value cache gives the CPU tokens, compiled once', async () => {
    const gpt = models.gpt2({ vocabSize: 32, nPositions: 16, nEmbd: 16, nLayer: 2, nHead: 2 });
    const { params } = gpt.init(random.key(7), [1, 8]);
    const prompt = np.array([[3, 1, 4, 1]], { dtype: 'int32' });
    const cpu = models.generator(gpt, { temperature: 0 }).generate(params, prompt, { maxNewTokens: 8 });
    const [leaves, def] = tree.flatten<Array>(params);
    const gparams = tree.unflatten(def, await Promise.all(leaves.map(up)));
    const onGpu = models.generator(gpt, { temperature: 0 });
    const out = onGpu.generate(gparams, await up(prompt), { maxNewTokens: 8 });
    expect(out).toBeInstanceOf(GpuArray);
    expect((await host(out)).toArray()).toEqual(cpu.toArray());
    expect(onGpu.traceCount).toBe(1);
  });
  gpuIt('an LSTM trained by backpropagation through time (scan driven from the host) matches the CPU', async () => {
    const l = nn.rnn(nn.lstmCell(4));
    const { params } = l.init(random.key(0), [5, 2, 3]);
    const xs = random.normal(random.key(1), [5, 2, 3]);
    const loss = (p: any, x: Array) => np.sum(np.square(l.apply(p, {}, x).y as Array));
    const cpu = grad(loss)(params, xs);
    const gp: any = { forward: {} };
    for (const [k, v] of Object.entries(params.forward as Record<string, Array>)) gp.forward[k] = await up(v);
    const gpu = jit(grad(loss))(gp, await up(xs));
    for (const k of ['wIh', 'wHh', 'bIh'])
      assertClose(await host(gpu.forward[k]), cpu.forward[k], { rtol: 1e-3, atol: 1e-4 }, k);
  });
  gpuIt('memory stays flat over 500 jitted training steps with no disposal', async () => {
    const f = jit((w: Array, x: Array) =>
      np.subtract(w, np.multiply(grad((v: Array) => np.sum(np.square(np.matmul(x, v))))(w), 0.01)),
    );
    let w: Array = await up(random.normal(random.key(4), [8, 4]));
    const x = await up(random.normal(random.key(5), [6, 8]));
    const live: number[] = [];
    for (let i = 0; i < 500; i++) {
      w = f(w, x);
      if (i % 100 === 99) {
        await w.data(); // let the queue drain
        // Collect (as allocation pressure would in a long run), then let finalizers return buffers to the pool.
        (globalThis as { gc?: () => void }).gc?.();
        await new Promise((r) => setTimeout(r, 10));
        live.push(memoryStats().webgpu.buffers);
      }
    }
    // Buffers of dropped arrays return to the pool when they are collected; the count must not grow with the steps.
    console.log(`live webgpu buffers every 100 steps: ${live.join(', ')}`);
    expect(Math.max(...live)).toBeLessThanOrEqual(live[0] + 5);
    expect(Number.isFinite((await host(w)).dataSync()[0])).toBe(true);
  });
  gpuIt('scalar CPU arguments of a jit call return their buffers to the pool exactly once', async () => {
    const f = jit((a: Array, s: Array) => np.multiply(a, s));
    const a = await up(np.ones([64]));
    for (let i = 0; i < 20; i++) await f(a, np.array(i)).data();
    for (let k = 0; k < 2; k++) {
      (globalThis as { gc?: () => void }).gc?.();
      await new Promise((r) => setTimeout(r, 20));
    }
    // A buffer returned twice would be handed to two of these arrays, and one value would overwrite the other.
    const fresh = await Promise.all(globalThis.Array.from({ length: 24 }, (_, i) => up(np.full([8], i))));
    const firsts = await Promise.all(fresh.map(async (x) => (await x.data())[0]));
    expect(firsts).toEqual(globalThis.Array.from({ length: 24 }, (_, i) => i));
    expect(globalThis.Array.from(await f(a, np.array(3)).data()).slice(0, 2)).toEqual([3, 3]);
  });
  gpuIt('donated arguments lend their buffers to the outputs', async () => {
    const step = jit((w: Array, g: Array) => np.subtract(w, np.multiply(g, 0.1)), { donateArgnums: [0] });
    const g = await up(np.ones([256]));
    let w: Array = await up(np.zeros([256]));
    step(w, g); // compile once
    w = await up(np.zeros([256]));
    const before = memoryStats().webgpu.buffers;
    const old = w;
    w = step(w, g);
    expect(memoryStats().webgpu.buffers).toBe(before); // the output took the donated buffer
    expect(() => (old as GpuArray).buffer).toThrow(/used after dispose/);
    expect((await host(w)).dataSync()[0]).toBeCloseTo(-0.1, 6);
  });
  gpuIt('jit device option uploads CPU arguments', async () => {
    const f = jit((x: Array) => np.multiply(x, 3), { device: 'webgpu' });
    const r = f(np.array([1, 2]));
    expect(r).toBeInstanceOf(GpuArray);
    expect(globalThis.Array.from(await r.data())).toEqual([3, 6]);
    expect(() => jit((x: Array) => x, { device: 'cpu' })(r)).toThrow(/jit with device 'cpu' got webgpu arrays/);
  });
  gpuIt('float64 is refused, naming the array or the operation', async () => {
    await expect(up(np.ones([2], { dtype: 'float64' }))).rejects.toThrow(
      /cannot place a float64 array.*WGSL has no float64/,
    );
    const widen = jit((x: Array) => np.multiply(x.astype('float64'), 2), { device: 'webgpu' });
    expect(() => widen(np.ones([2]))).toThrow(/webgpu: cast's result f64\[2\] is float64, which WGSL has no type for/);
    expect(() => widen(np.ones([2]))).toThrow(DTypeError);
  });
  gpuIt('float16, bfloat16 and int8 round like the CPU after every operation', async () => {
    const h = await up(np.array([2048, 1, 0.1, 65504], { dtype: 'float16' }));
    expect(h.dtype).toBe('float16');
    const f = jit((x: Array) => np.add(x, 1));
    expect((await host(f(h))).toArray()).toEqual([2048, 2, 1.099609375, 65504]);
    expect((await host(jit((x: Array) => np.multiply(x, 2))(h))).toArray()).toEqual([
      4096,
      2,
      0.199951171875,
      Infinity,
    ]);
    const b = await up(np.array([256, 3.14159], { dtype: 'bfloat16' }));
    expect((await host(f(b))).toArray()).toEqual([256, 4.125]);
    const i8 = await up(np.array([100, -100], { dtype: 'int8' }));
    expect((await host(jit((x: Array) => np.add(x, x))(i8))).toArray()).toEqual([-56, 56]);
    const sat = jit((x: Array) => x.astype('uint8'));
    expect((await host(sat(await up(np.array([300.7, -1, NaN]))))).toArray()).toEqual([255, 0, 0]);
  });
  gpuIt('16- and 8-bit arrays are stored packed: every bit pattern survives a kernel as on the CPU', async () => {
    // Every float16/bfloat16/int16/uint16 pattern and every int8/uint8 value, unpacked into words,
    // through a kernel, packed again and read back: the CPU's x * 1 (NaN payloads aside: NaN stays NaN).
    const f = jit((x: Array) => np.multiply(x, 1));
    for (const [dtype, n] of [
      ['float16', 65536],
      ['bfloat16', 65536],
      ['int16', 65536],
      ['uint16', 65536],
      ['int8', 256],
      ['uint8', 256],
    ] as const) {
      const storage = new STORAGE[dtype](n); // float16 and bfloat16 as bit patterns
      for (let i = 0; i < n; i++) storage[i] = i;
      const x = new ConcreteArray(storage, [n], dtype);
      const onGpu = (await up(x)) as GpuArray;
      expect(onGpu.buffer.size).toBe(Math.ceil((n * (dtype.endsWith('8') ? 1 : 2)) / 256) * 256);
      const got = (await host(f(onGpu))).dataSync(),
        want = f(x).dataSync();
      for (let i = 0; i < n; i++)
        if (!(Object.is(got[i], want[i]) || (Number.isNaN(got[i]) && Number.isNaN(want[i]))))
          throw new Error(`${dtype} pattern ${i}: GPU ${got[i]}, CPU ${want[i]}`);
    }
  });
  gpuIt(
    "packed arrays take their dtype's bytes on the GPU; odd lengths, several outputs, donation and scans of them work",
    async () => {
      const before = memoryStats().webgpu.bytes;
      const [h, b, i8] = await Promise.all(
        (['float16', 'bfloat16', 'int8'] as const).map((d) => up(np.ones([1 << 20], { dtype: d }))),
      );
      expect(memoryStats().webgpu.bytes - before).toBe(2 * 2 ** 21 + 2 ** 20); // 2 + 2 + 1 bytes per element
      for (const a of [h, b, i8]) a.dispose();
      // Odd lengths (not whole words), two outputs, a donated argument.
      const step = jit((x: Array, k: Array) => ({ y: np.add(np.multiply(x, 1.5), 1), n: np.add(k, 3) }), {
        donateArgnums: [0],
      });
      for (const size of [1, 3, 5, 7]) {
        const x = np.multiply(np.arange(size), 0.37).astype('float16'),
          k = np.arange(size).astype('int8');
        const gpu = step(await up(x), await up(k));
        const cpu = step(x, k); // donates x (on the CPU too)
        expect((gpu.y as GpuArray).layout).toBe('packed');
        expect((await host(gpu.y)).toArray()).toEqual(cpu.y.toArray());
        expect((await host(gpu.n)).toArray()).toEqual(cpu.n.toArray());
      }
      // A scan over float16 rows of 3 (6 bytes: rows are copied in words inside the scan).
      const cumsum = jit((xs: Array) =>
        lax.scan(
          (c: Array, x: Array) => [np.add(c, x), np.multiply(c, 2)] as [Array, Array],
          np.zeros([3], { dtype: 'float16' }),
          xs,
        ),
      );
      const xs = np.multiply(np.arange(15).reshape([5, 3]), 0.1).astype('float16');
      const [cGpu, ysGpu] = cumsum(await up(xs));
      const [cCpu, ysCpu] = cumsum(xs);
      expect((await host(cGpu)).toArray()).toEqual(cCpu.toArray());
      expect((await host(ysGpu)).toArray()).toEqual(ysCpu.toArray());
      expect((ysGpu as GpuArray).layout).toBe('packed');
    },
  );
  gpuIt('mixing a CPU array into GPU work is an error that says what to do', async () => {
    const g = await up(np.ones([3]));
    expect(() => np.add(g, np.array([1, 2, 3]))).toThrow(
      /mixes a cpu array \(shape \[3\]\) with webgpu arrays; move it with await toDevice/,
    );
    expect(() => g.dataSync()).toThrow(/read asynchronously: use await x.data\(\)/);
  });
  gpuIt(
    'reductions of any length: 2^22 + 7 elements into one output (llvmpipe summed 2^22 ones to 131070)',
    async () => {
      const n = 2 ** 22 + 7;
      const x = await up(np.ones([n]));
      expect((await np.sum(x).data())[0]).toBe(n);
      expect((await np.max(np.multiply(x, np.array(-1))).data())[0]).toBe(-1);
      expect((await np.mean(x).data())[0]).toBe(1);
    },
  );
  gpuIt('arrays a jitted function makes or closes over go where the program runs', async () => {
    const scale = np.array([1, 10, 100]);
    const f = jit((x: Array) => np.add(np.multiply(x, scale), np.reshape(np.array([[0.5], [0.25]]), [2, 1])));
    const x = np.ones([2, 3]);
    const r = f(await up(x));
    expect(r).toBeInstanceOf(GpuArray);
    assertClose(await host(r), f(x), { rtol: 0, atol: 0 });
    assertClose(await host(f(await up(x))), f(x), { rtol: 0, atol: 0 }); // a second call reuses the uploads
  });
  gpuIt(
    'a jitted LSTM (2 steps, batch 3, input 2, hidden 3): values and VJP equal the CPU, eager VJP too',
    async () => {
      const [k1, k2, k3, k4, k5] = [...random.split(random.key(7), 5)];
      const w = {
        wIh: random.normal(k1, [12, 2]),
        wHh: random.normal(k2, [12, 3]),
        bIh: random.normal(k3, [12]),
        bHh: random.normal(k4, [12]),
      };
      const args: [Array, Array, Array] = [random.normal(k5, [2, 3, 2]), np.zeros([1, 3, 3]), np.zeros([1, 3, 3])];
      const f = (x: Array, h0: Array, c0: Array, wt: typeof w) => {
        const r = nn.functional.lstm(x, h0, c0, wt);
        return [r.output, r.hN, r.cN];
      };
      const pullback = (x: Array, h0: Array, c0: Array, wt: typeof w) => {
        const [ys, back] = vjp(f, x, h0, c0, wt);
        return back(ys.map((y) => np.onesLike(y)));
      };
      const gw = Object.fromEntries(await Promise.all(Object.entries(w).map(async ([k, v]) => [k, await up(v)])));
      const gargs = (await Promise.all(args.map(up))) as [Array, Array, Array];
      const want = tree.leaves([jit(f)(...args, w), jit(pullback)(...args, w)]);
      const jitted = tree.leaves([jit(f)(...gargs, gw as typeof w), jit(pullback)(...gargs, gw as typeof w)]);
      const eager = tree.leaves(pullback(...gargs, gw as typeof w));
      for (const [i, got] of jitted.entries()) assertClose(await host(got), want[i], tol, `jit leaf ${i}`);
      for (const [i, got] of eager.entries()) assertClose(await host(got), want[i + 3], tol, `eager vjp leaf ${i}`);
    },
  );
  gpuIt('an array past the storage binding limit is refused at the call, and the device keeps working', async () => {
    const limit = (await initWebGPU())!.maxBindingBytes;
    const big = np.zeros([limit / 4 + 64]);
    await expect(up(big)).rejects.toThrow(/exceeds this device's storage binding limit/);
    const one = await up(np.ones([1]));
    expect(() => np.broadcastTo(one, [limit / 4 + 64])).toThrow(/storage binding limit of \d+ bytes/);
    expect(globalThis.Array.from(await np.add(one, 1).data())).toEqual([2]);
  });
  gpuIt('a device error surfaces when the arrays of the failing submission are read, naming it', async () => {
    const a = (await up(np.ones([4]))) as GpuArray;
    const b = (await up(np.zeros([4]))) as GpuArray;
    // A copy of 3 bytes is invalid (WebGPU copies whole words): the scope catches it.
    const failure = submitScoped('test copy', (enc) => enc.copyBufferToBuffer(a.buffer, 0, b.buffer, 0, 3));
    expect(await failure).toMatch(/^webgpu: test copy: /);
    const tainted = new GpuArray(b.donate()!, [4], 'float32', failure);
    await expect(tainted.data()).rejects.toThrow(/webgpu: test copy/);
    // Arrays computed from it carry the error; unrelated arrays read normally.
    await expect(np.add(tainted, 1).data()).rejects.toThrow(/webgpu: test copy/);
    expect(globalThis.Array.from(await a.data())).toEqual([1, 1, 1, 1]);
  });
  gpuIt(
    'the buffer pool keeps at most the live bytes or 64 MiB; an array passed twice, donated once, reads safely',
    async () => {
      // 2 MiB each, all of different sizes: 80 MiB released in all.
      for (let i = 0; i < 40; i++) (await up(np.zeros([2 ** 19 + 64 * i]))).dispose();
      expect(webgpuPoolStats().bytes).toBeLessThanOrEqual(Math.max(64 * 2 ** 20, memoryStats().webgpu.bytes));
      expect(webgpuPoolStats().bytes).toBeGreaterThan(0);
      const f = jit((a: Array, b: Array) => np.add(np.exp(a), np.multiply(b, 2)), { donateArgnums: [0] });
      const w = await up(np.arange(8).astype('float32'));
      const want = np.add(np.exp(np.arange(8).astype('float32')), np.multiply(np.arange(8), 2));
      assertClose(await host(f(w, w)), want, tol);
    },
  );
  gpuIt(
    'collectives across processes run on the host between GPU segments, and the work issued behind them waits',
    async () => {
      // A stand-in for a second process holding the same values (test/mpi.test.ts runs real ones):
      // sums double, gathers repeat. Steps are issued back to back while host steps are in flight,
      // with donated buffers recycled through the pool; any work run out of order would read garbage.
      const twin = (d: Float32Array | Int32Array) => {
        const out = new (d.constructor as Float32ArrayConstructor)(2 * d.length);
        out.set(d);
        out.set(d, d.length);
        return out;
      };
      installProcessGroup({
        rank: 0,
        size: 2,
        allreduce: (d, op) => (op === 'sum' ? (d.map((v: number) => 2 * v) as typeof d) : d),
        allgather: (d) => twin(d as Float32Array),
      });
      try {
        const loss = (p: Array, x: Array) => np.sum(np.square(np.tanh(np.matmul(x, p))));
        const step = pmap(
          (p: Array, x: Array) => {
            const g = lax.pmean(grad(loss)(p, x), 'd');
            const q = np.subtract(p, np.multiply(g, 0.05));
            return { p: q, norms: lax.allGather(np.sum(np.abs(q)), 'd'), total: lax.psum(np.sum(q), 'd') };
          },
          { axisName: 'd', inAxes: [null, 0], outAxes: { p: null, norms: 0, total: null }, donateArgnums: [0] },
        );
        const x = random.normal(random.key(3), [1, 16, 8]);
        let [onGpu, onCpu] = [await up(random.normal(random.key(4), [8, 8])), random.normal(random.key(4), [8, 8])];
        let gpuOut = step(onGpu, await up(x));
        for (let i = 0; i < 30; i++) gpuOut = step((onGpu = gpuOut.p), await up(x));
        let cpuOut = step(onCpu, x);
        for (let i = 0; i < 30; i++) cpuOut = step((onCpu = cpuOut.p), x);
        expect(gpuOut.p).toBeInstanceOf(GpuArray);
        assertClose(await host(gpuOut.p), cpuOut.p, tol);
        assertClose(await host(gpuOut.norms), cpuOut.norms, tol);
        expect(cpuOut.norms.shape).toEqual([1, 2]); // this device, both "processes"
        assertClose(await host(gpuOut.total), np.multiply(np.sum(cpuOut.p), 2), tol);
      } finally {
        installProcessGroup({ rank: 0, size: 1, allreduce: (d) => d, allgather: (d) => d });
      }
    },
  );
  gpuIt('reading a GPU array synchronously says how to read it, not that it is traced', async () => {
    const g = await up(np.ones([2]));
    expect(() => g.item()).toThrow(/item: webgpu arrays are read asynchronously/);
    expect(() => g.toArray()).toThrow(/toArray: webgpu arrays are read asynchronously/);
  });
});
