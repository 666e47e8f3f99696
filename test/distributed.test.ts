// pmap and the collectives in one process with FLUXION_CPU_DEVICES=4 (as JAX's forced host device
// count): values against plain-array references (fast-check), gradients through the collectives,
// nesting with vmap, jit and scan, and clear errors.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromBinary } from '@bufbuild/protobuf';
import { type Array, distributed, grad, jit, lax, makeGraph, nn, np, onnx, pmap, random, vmap } from '../src/index.js';
import { ModelProtoSchema } from '../src/onnx/generated/onnx_pb.js';
import { assertClose, gradMatchesFiniteDifferences, rng } from '../laws/index.js';

process.env.FLUXION_CPU_DEVICES = '4';
const tol = { rtol: 1e-5, atol: 1e-5 };
const data = (seed: number, shape: number[]) => random.normal(random.key(seed), shape);

describe('devices', () => {
  it('FLUXION_CPU_DEVICES sets the local devices; one process', () => {
    expect(distributed.localDeviceCount()).toBe(4);
    expect(distributed.devices().map((d) => d.id)).toEqual([0, 1, 2, 3]);
    expect([distributed.processIndex(), distributed.processCount()]).toEqual([0, 1]);
    expect(distributed.initialize()).toEqual({ processIndex: 0, processCount: 1 });
    // One process: shutdown leaves nothing, and collectives over the local devices still work.
    distributed.shutdown();
    const summed = pmap((v: Array) => lax.psum(v, 'd'), { axisName: 'd' })(np.ones([4, 2]));
    expect(summed.toArray()).toEqual([4, 4, 4, 4].map((s) => [s, s]));
  });
});

describe('pmap and collectives: values against references', () => {
  const shapes = fc.record({
    seed: fc.integer({ min: 1, max: 1 << 20 }),
    n: fc.integer({ min: 1, max: 4 }),
    rest: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
  });
  it('pmap(f)(x) stacks f of each slice; psum, pmean, pmax, pmin reduce over the devices', () => {
    fc.assert(
      fc.property(shapes, ({ seed, n, rest }) => {
        const x = data(seed, [n, ...rest]);
        const f = (v: Array) => ({
          own: np.sin(v),
          sum: lax.psum(v, 'd'),
          mean: lax.pmean(v, 'd'),
          max: lax.pmax(v, 'd'),
          min: lax.pmin(v, 'd'),
        });
        const out = pmap(f, { axisName: 'd' })(x);
        const each = (r: Array) => np.broadcastTo(np.expandDims(r, 0), [n, ...rest]);
        assertClose(out.own, np.sin(x), tol);
        assertClose(out.sum, each(np.sum(x, { axis: 0 })), tol);
        assertClose(out.mean, each(np.mean(x, { axis: 0 })), tol);
        assertClose(out.max, each(np.max(x, { axis: 0 })), tol);
        assertClose(out.min, each(np.min(x, { axis: 0 })), tol);
      }),
      { numRuns: 15 },
    );
  });
  it('allGather (stacked and tiled), psumScatter, ppermute and axisIndex', () => {
    const x = data(1, [4, 2, 3]);
    const out = pmap(
      (v: Array) => ({
        gathered: lax.allGather(v, 'd'),
        tiled: lax.allGather(v, 'd', { axis: 1, tiled: true }),
        scattered: lax.psumScatter(np.tile(np.expandDims(v, 0), [4, 1, 1]), 'd'),
        ring: lax.ppermute(v, 'd', [
          [0, 1],
          [1, 2],
          [2, 3],
          [3, 0],
        ]),
        partial: lax.ppermute(v, 'd', [[0, 2]]),
        index: lax.axisIndex('d'),
      }),
      { axisName: 'd' },
    )(x);
    assertClose(out.gathered, np.broadcastTo(np.expandDims(x, 0), [4, 4, 2, 3]), tol);
    const concat = np.concatenate(np.unstack(x), { axis: 1 }); // [2, 12]
    assertClose(out.tiled, np.broadcastTo(np.expandDims(concat, 0), [4, 2, 12]), tol);
    // Each device sent its x to every slot; device i keeps slot i of the sum: 4·x... summed over devices.
    const total = np.sum(x, { axis: 0 });
    assertClose(out.scattered, np.broadcastTo(np.expandDims(total, 0), [4, 2, 3]), tol);
    assertClose(out.ring, np.roll(x, 1, { axis: 0 }), tol);
    assertClose(np.slice(out.partial, 2), np.slice(x, 0), tol);
    expect(np.sum(np.abs(np.slice(out.partial, 1))).item()).toBe(0);
    expect(globalThis.Array.from(out.index.dataSync())).toEqual([0, 1, 2, 3]);
  });
});

describe('gradients through collectives', () => {
  const x = data(2, [4, 3]);
  const cases: [string, (v: Array) => Array][] = [
    ['psum', (v) => np.sum(np.multiply(np.sin(v), lax.psum(np.square(v), 'd')))],
    ['pmean', (v) => np.sum(np.tanh(lax.pmean(v, 'd')))],
    ['allGather', (v) => np.sum(np.multiply(lax.allGather(v, 'd'), np.arange(12).reshape([4, 3])))],
    ['psumScatter', (v) => np.sum(np.square(lax.psumScatter(np.tile(np.expandDims(v, 0), [4, 1]), 'd')))],
    [
      'ppermute',
      (v) =>
        np.sum(
          np.multiply(
            v,
            lax.ppermute(np.sin(v), 'd', [
              [0, 1],
              [1, 2],
              [2, 3],
              [3, 0],
            ]),
          ),
        ),
    ],
  ];
  for (const [name, local] of cases)
    it(`${name}: grad of a loss through pmap matches finite differences, and jit(grad) agrees`, () => {
      const loss = (v: Array) => np.sum(pmap(local, { axisName: 'd' })(v));
      expect(gradMatchesFiniteDifferences((v) => [loss(v)], [x], [0], rng(4))).toBe(true);
      assertClose(jit(grad(loss))(x), grad(loss)(x), tol);
    });
  it('the data-parallel idiom: pmean of per-device gradients equals the full-batch gradient', () => {
    const w = data(3, [3]);
    const xs = data(4, [4, 5, 3]),
      ys = data(5, [4, 5]);
    const loss = (p: Array, xb: Array, yb: Array) => np.mean(np.square(np.subtract(np.matmul(xb, p), yb)));
    const step = pmap((p: Array, xb: Array, yb: Array) => lax.pmean(grad(loss)(p, xb, yb), 'd'), {
      axisName: 'd',
      inAxes: [null, 0, 0],
    });
    const g = step(w, xs, ys);
    const full = grad(loss)(w, np.reshape(xs, [20, 3]), np.reshape(ys, [20]));
    for (let i = 0; i < 4; i++) assertClose(np.slice(g, i), full, tol);
  });
});

describe('one device per process', () => {
  it('pmap over one member compiles the step as plainly as jit: the convolution lowers to a Conv', () => {
    const w = data(6, [4, 1, 3, 3]);
    const loss = (p: Array, x: Array) => np.sum(np.square(nn.functional.conv2d(x, p, null, { padding: 'same' })));
    const step = (p: Array, x: Array) => lax.pmean(grad(loss)(p, x), 'd');
    const x = data(7, [1, 2, 1, 8, 8]); // one device's batch of 2 images
    const opsOf = (f: (...a: Array[]) => unknown, ...args: Array[]) =>
      fromBinary(ModelProtoSchema, onnx.lowerGraph(makeGraph(f)(...args)).bytes).graph!.node.map((n) => n.opType);
    const mapped = opsOf(pmap(step, { axisName: 'd', inAxes: [null, 0] }), w, x);
    const plain = opsOf(
      jit((p: Array, xb: Array) => grad(loss)(p, xb)),
      w,
      np.squeeze(x, { axis: 0 }),
    );
    expect(mapped.filter((o) => o === 'Conv').length).toBe(plain.filter((o) => o === 'Conv').length);
    expect(mapped.filter((o) => o === 'Conv').length).toBeGreaterThan(0);
    const g = pmap(step, { axisName: 'd', inAxes: [null, 0] })(w, x);
    assertClose(np.squeeze(g, { axis: 0 }), grad(loss)(w, np.squeeze(x, { axis: 0 })), tol);
    // The collectives see an axis of one member: the identity in one process.
    const probe = pmap((v: Array) => [lax.axisIndex('d'), lax.allGather(v, 'd'), lax.psum(v, 'd')], { axisName: 'd' });
    const [index, gathered, summed] = probe(np.array([[1, 2]]));
    expect([index.toArray(), gathered.shape, summed.toArray()]).toEqual([[0], [1, 1, 2], [[1, 2]]]);
  });
});

describe('bucketed gradient averaging', () => {
  it('pmeanBuckets equals pmean leaf by leaf, across buckets and dtypes', () => {
    const x = data(9, [4, 5]);
    const f = (bucketBytes: number) =>
      pmap(
        (v: Array) =>
          lax.pmeanBuckets({ a: v, b: np.sum(v), c: np.astype(v, 'float64'), d: np.square(v) }, 'd', { bucketBytes }),
        { axisName: 'd' },
      )(x);
    const want = pmap(
      (v: Array) => lax.pmean({ a: v, b: np.sum(v), c: np.astype(v, 'float64'), d: np.square(v) }, 'd'),
      {
        axisName: 'd',
      },
    )(x);
    for (const cap of [8, 24, 1 << 20]) {
      const got = f(cap);
      for (const k of ['a', 'b', 'c', 'd'] as const) assertClose(got[k], want[k], tol);
      expect(got.c.dtype).toBe('float64');
    }
  });
});

describe('nesting', () => {
  it('vmap inside pmap with two axis names, jit inside, and a collective inside a scan body', () => {
    const x = data(6, [4, 3, 2]);
    const inner = jit((v: Array) => lax.psum(v, 'inner'));
    const f = pmap((v: Array) => vmap((u: Array) => lax.psum(inner(u), 'outer'), { axisName: 'inner' })(v), {
      axisName: 'outer',
    });
    const total = np.sum(x, { axis: [0, 1] });
    assertClose(f(x), np.broadcastTo(total, [4, 3, 2]), tol);
    const scanned = pmap(
      (v: Array) => lax.scan((c: Array, t: Array) => [np.add(c, lax.psum(t, 'd')), c], np.zeros([2]), v)[0],
      { axisName: 'd' },
    )(x);
    assertClose(scanned, np.broadcastTo(total, [4, 2]), tol);
  });
});

describe('bad use is a clear error', () => {
  it('collectives outside a named axis, unknown names, too many entries, bad permutations', () => {
    expect(() => lax.psum(np.ones([2]), 'd')).toThrow(/axis name 'd' is not bound here/);
    expect(() => vmap((v: Array) => lax.psum(v, 'other'), { axisName: 'd' })(np.ones([2]))).toThrow(
      /'other' is not bound/,
    );
    expect(() => pmap((v: Array) => v)(np.ones([5, 2]))).toThrow(/5 entries but there are 4 devices/);
    const add = (a: Array, b: Array) => np.add(a, b);
    expect(() => pmap(add)(np.ones([1, 2]), np.ones([2, 2]))).toThrow(/mapped axes disagree in size: 1 and 2/);
    expect(() => pmap(add)(np.ones([2, 2]), np.ones([1, 2]))).toThrow(/mapped axes disagree/);
    expect(() => pmap(add, { axisNam: 'd' } as never)).toThrow(/pmap: unknown option 'axisNam'/);
    expect(() => pmap((v: Array) => lax.ppermute(v, 'd', [[0, 9]]), { axisName: 'd' })(np.ones([4]))).toThrow(
      /perm must pair distinct members/,
    );
    expect(() => pmap((v: Array) => lax.psumScatter(v, 'd'), { axisName: 'd' })(np.ones([4, 3]))).toThrow(
      /must equal the 4 members/,
    );
  });
});

describe('sharded data pipelines', () => {
  it('the shards of every process make up each global batch, in order', async () => {
    const { io } = await import('../src/index.js');
    const data = { images: np.arange(20).reshape([20, 1]), labels: np.arange(20) };
    const opts = { batchSize: 8, key: random.key(3) };
    const whole = [...io.batches(data, opts)].map((b) => globalThis.Array.from(b.labels.dataSync()));
    const shards = [0, 1, 2].map((i) => [...io.batches(data, { ...opts, shard: [i, 3] })]);
    whole.forEach((batch, k) =>
      expect(shards.flatMap((s) => globalThis.Array.from(s[k].labels.dataSync()))).toEqual(batch),
    );
    expect(() => [...io.batches(data, { ...opts, shard: [3, 3] })]).toThrow(/shard must be/);
  });
});
