// Arrays, np against plain JS loops, errors, pytrees, random keys, printing and memory.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  type Array,
  ConcreteArray,
  FluxionError,
  OptionError,
  ShapeError,
  ValueError,
  grad,
  jit,
  memoryStats,
  np,
  vmap,
  random,
  tree,
} from '../src/index.js';
import { threefry2x32Block } from '../src/primitives/random.js';
import { composite } from '../src/control/composite.js';
import { weakConstants } from '../src/core/array.js';
import { assertClose, broadcastPair, floatArray, pytree, treeRoundTrips } from '../laws/index.js';

const flat = (x: Array) => globalThis.Array.from(x.dataSync(), Number);

describe('arrays', () => {
  it('have shape, dtype, ndim, size and read back in every form', async () => {
    const x = np.array(
      [
        [1, 2, 3],
        [4, 5, 6],
      ],
      { dtype: 'int32' },
    );
    expect([x.shape, x.dtype, x.ndim, x.size]).toEqual([[2, 3], 'int32', 2, 6]);
    expect(x.toArray()).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(globalThis.Array.from(await x.data())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(np.array(7).item()).toBe(7);
    expect(np.array([true, false]).toArray()).toEqual([true, false]);
    expect(() => x.item()).toThrow(/item: array of shape \(2, 3\) has 6 elements/);
  });
  it('print like numpy, with shape and dtype, eliding large arrays', () => {
    expect(
      String(
        np.array([
          [1, 2],
          [3, 4],
        ]),
      ),
    ).toBe('Array([[1., 2.],\n       [3., 4.]], shape=(2, 2), dtype=float32)');
    expect(String(np.array(0.1))).toBe('Array(0.1, shape=(), dtype=float32)');
    expect(String(np.arange(3))).toBe('Array([0, 1, 2], shape=(3,), dtype=int32)');
    const big = String(np.zeros([2000]));
    expect(big).toContain('...');
    expect(big.length).toBeLessThan(200);
    expect(String(np.zeros([0, 3]))).toBe('Array([], shape=(0, 3), dtype=float32)');
  });
  it('are immutable: at().set returns a new array', () => {
    const x = np.zeros([3]);
    const y = x.at(1).set(5);
    expect(x.toArray()).toEqual([0, 0, 0]);
    expect(y.toArray()).toEqual([0, 5, 0]);
    expect(x.at('0:3:2').add(1).toArray()).toEqual([1, 0, 1]);
    expect(np.arange(6).reshape(2, 3).at(null, -1).multiply(10).toArray()).toEqual([
      [0, 1, 20],
      [3, 4, 50],
    ]);
  });
  it('dispose releases memory deterministically and use after dispose is an error', () => {
    const before = memoryStats().cpu.buffers;
    const x = np.zeros([1000]);
    expect(memoryStats().cpu.buffers).toBe(before + 1);
    x.dispose();
    expect(memoryStats().cpu.buffers).toBe(before);
    expect(() => x.toArray()).toThrow(/used after dispose/);
    {
      using y = np.ones([10]);
      expect(y.size).toBe(10);
    }
  });
  it('memoryStats stays near the working set inside a synchronous loop (finalizers only run between tasks)', () => {
    let x = np.zeros([2 ** 18]); // 1 MiB
    for (let i = 0; i < 400; i++) x = np.add(x, 1); // 400 MiB allocated, one array live at a time
    expect(memoryStats().cpu.bytes).toBeLessThan(200 * 2 ** 20);
    expect(x.slice(0).item()).toBe(400);
  });
});

describe('np against plain loops', () => {
  it('broadcasting add/multiply match an explicit index loop', () =>
    fc.assert(
      fc.property(
        broadcastPair(3, 3).chain(([a, b]) => fc.tuple(floatArray(a), floatArray(b))),
        ([a, b]) => {
          const out = np.add(np.multiply(a, b), a);
          const shape = out.shape;
          const idx = (s: readonly number[], i: number[]) =>
            s.reduce((acc, d, k) => acc * d + (d === 1 ? 0 : i[i.length - s.length + k]), 0);
          const A = flat(a),
            B = flat(b);
          const expected: number[] = [];
          const walk = (d: number, i: number[]) => {
            if (d === shape.length) {
              const av = A[idx(a.shape, i)],
                bv = B[idx(b.shape, i)];
              expected.push(Math.fround(Math.fround(av * bv) + av));
              return;
            }
            for (let k = 0; k < shape[d]; k++) walk(d + 1, [...i, k]);
          };
          walk(0, []);
          expect(flat(out)).toEqual(expected);
        },
      ),
      { numRuns: 40 },
    ));
  it('reductions with axis and keepdims', () => {
    const x = np.arange(24).reshape(2, 3, 4);
    const data = flat(x);
    const sum1 = [0, 1].flatMap((i) =>
      [0, 1, 2, 3].map((k) => [0, 1, 2].reduce((s, j) => s + data[i * 12 + j * 4 + k], 0)),
    );
    expect(flat(np.sum(x, { axis: 1 }))).toEqual(sum1);
    expect(np.sum(x, { axis: [0, 2], keepdims: true }).shape).toEqual([1, 3, 1]);
    expect(np.max(x).item()).toBe(23);
    expect(
      np
        .argmax(
          np.array([
            [1, 5, 2],
            [7, 0, 7],
          ]),
          { axis: 1 },
        )
        .toArray(),
    ).toEqual([1, 0]);
    expect(np.argmin(np.array([3, 1, 2])).item()).toBe(1);
    expect(np.mean(np.array([1, 2, 3, 4])).item()).toBe(2.5);
    expect(np.variance(np.array([1, 2, 3, 4]), { ddof: 1 }).item()).toBeCloseTo(1.6667, 4);
    expect(np.std(np.array([1, 2, 3, 4])).item()).toBeCloseTo(Math.sqrt(1.25), 5);
    expect(np.prod(np.array([1, 2, 3, 4])).item()).toBe(24);
    expect(np.all(np.array([true, false])).item()).toBe(0);
    expect(np.any(np.array([true, false])).item()).toBe(1);
    expect(np.logsumexp(np.array([1000, 1000])).item()).toBeCloseTo(1000 + Math.log(2), 3);
    expect(np.sum(np.zeros([0, 3]), { axis: 0 }).toArray()).toEqual([0, 0, 0]);
  });
  it('shape ops', () => {
    const x = np.arange(6).reshape(2, 3);
    expect(np.transpose(x).toArray()).toEqual([
      [0, 3],
      [1, 4],
      [2, 5],
    ]);
    expect(np.swapaxes(np.zeros([2, 3, 4]), 0, 2).shape).toEqual([4, 3, 2]);
    expect(np.moveaxis(np.zeros([2, 3, 4]), 0, -1).shape).toEqual([3, 4, 2]);
    expect(np.expandDims(x, [0, 3]).shape).toEqual([1, 2, 3, 1]);
    expect(np.squeeze(np.zeros([1, 3, 1])).shape).toEqual([3]);
    expect(np.concatenate([x, x], { axis: 1 }).toArray()).toEqual([
      [0, 1, 2, 0, 1, 2],
      [3, 4, 5, 3, 4, 5],
    ]);
    expect(np.stack([np.array([1, 2]), np.array([3, 4])], { axis: 1 }).toArray()).toEqual([
      [1, 3],
      [2, 4],
    ]);
    expect(np.split(np.arange(6), [2, 5]).map((a) => a.toArray())).toEqual([[0, 1], [2, 3, 4], [5]]);
    expect(np.tile(np.array([1, 2]), [2, 2]).toArray()).toEqual([
      [1, 2, 1, 2],
      [1, 2, 1, 2],
    ]);
    expect(np.repeat(np.array([1, 2]), 2).toArray()).toEqual([1, 1, 2, 2]);
    expect(np.pad(np.array([1, 2]), [[1, 2]], { constantValues: 9 }).toArray()).toEqual([9, 1, 2, 9, 9]);
    expect(np.flip(x, { axis: 1 }).toArray()).toEqual([
      [2, 1, 0],
      [5, 4, 3],
    ]);
    expect(np.roll(np.arange(5), 2).toArray()).toEqual([3, 4, 0, 1, 2]);
    expect(np.broadcastTo(np.array([1, 2]), [2, 2]).toArray()).toEqual([
      [1, 2],
      [1, 2],
    ]);
  });
  it('indexing: python slices, take, takeAlongAxis', () => {
    const x = np.arange(12).reshape(3, 4);
    expect(x.slice(1).toArray()).toEqual([4, 5, 6, 7]);
    expect(x.slice(null, [1, null, 2]).toArray()).toEqual([
      [1, 3],
      [5, 7],
      [9, 11],
    ]);
    expect(x.slice([null, null, -1], -1).toArray()).toEqual([11, 7, 3]);
    expect(x.slice([-2, null]).shape).toEqual([2, 4]);
    expect(x.slice('::-1', '1:3')).toEqual(x.slice([null, null, -1], [1, 3]));
    expect(x.slice('...', 0).toArray()).toEqual([0, 4, 8]);
    expect(np.take(x, np.array([2, -1], { dtype: 'int32' }), { axis: 1 }).toArray()).toEqual([
      [2, 3],
      [6, 7],
      [10, 11],
    ]);
    expect(np.takeAlongAxis(x, np.array([[0], [3], [1]], { dtype: 'int32' }), 1).toArray()).toEqual([[0], [7], [9]]);
    // Rows of several elements are copied run by run: each dtype keeps its values, and take's
    // gradient (scatter-add) adds a row picked twice twice.
    const rows = np.arange(12).reshape(3, 2, 2),
      picks = np.array([2, 0, 2], { dtype: 'int32' });
    for (const dtype of ['float32', 'float16', 'bfloat16', 'int32', 'uint8'] as const)
      expect(np.take(rows.astype(dtype), picks, { axis: 0 }).toArray()).toEqual([
        [
          [8, 9],
          [10, 11],
        ],
        [
          [0, 1],
          [2, 3],
        ],
        [
          [8, 9],
          [10, 11],
        ],
      ]);
    expect(np.take(np.greater(rows, 0), picks, { axis: 0 }).slice(1).toArray()).toEqual([
      [false, true],
      [true, true],
    ]);
    expect(grad((r: Array) => np.sum(np.take(r, picks, { axis: 0 })))(rows.astype('float32')).toArray()).toEqual([
      [
        [1, 1],
        [1, 1],
      ],
      [
        [0, 0],
        [0, 0],
      ],
      [
        [2, 2],
        [2, 2],
      ],
    ]);
    expect(np.sort(np.array([3, 1, 2])).toArray()).toEqual([1, 2, 3]);
    expect(np.cumsum(np.array([1, 2, 3])).toArray()).toEqual([1, 3, 6]);
    expect(np.cumsum(np.arange(6).reshape(2, 3), { axis: 0 }).toArray()).toEqual([
      [0, 1, 2],
      [3, 5, 7],
    ]);
    expect(np.cumsum(np.arange(6).reshape(2, 3), { axis: 1 }).toArray()).toEqual([
      [0, 1, 3],
      [3, 7, 12],
    ]);
    expect(np.argsort(np.array([3, 1, 2]), { descending: true }).toArray()).toEqual([0, 2, 1]);
  });
  it('contractions: matmul, dot, tensordot, einsum, outer', () => {
    const a = np.arange(6).reshape(2, 3).astype('float32'),
      b = np.arange(12).reshape(3, 4).astype('float32');
    const A = flat(a),
      B = flat(b);
    const ref = [0, 1].flatMap((i) =>
      [0, 1, 2, 3].map((j) => [0, 1, 2].reduce((s, k) => s + A[i * 3 + k] * B[k * 4 + j], 0)),
    );
    expect(flat(np.matmul(a, b))).toEqual(ref);
    expect(flat(np.einsum('ij,jk->ik', a, b))).toEqual(ref);
    expect(flat(np.dot(a, b))).toEqual(ref);
    expect(flat(np.tensordot(a, b, 1))).toEqual(ref);
    expect(np.einsum('ij->ji', a).shape).toEqual([3, 2]);
    expect(np.einsum('ij,ij->', a, a).item()).toBe(55);
    expect(np.einsum('bij,bjk->bik', np.ones([5, 2, 3]), np.ones([5, 3, 4])).shape).toEqual([5, 2, 4]);
    expect(np.matmul(np.ones([3]), np.ones([3, 2])).shape).toEqual([2]);
    expect(np.matmul(np.ones([7, 2, 3]), np.ones([3, 2])).shape).toEqual([7, 2, 2]);
    expect(np.outer(np.array([1, 2]), np.array([3, 4, 5])).toArray()).toEqual([
      [3, 4, 5],
      [6, 8, 10],
    ]);
  });
  it('elementwise math, promotion and integer semantics', () => {
    expect(np.add(np.array([1, 2], { dtype: 'int32' }), 1).dtype).toBe('int32');
    expect(np.multiply(np.array([1, 2], { dtype: 'int32' }), 0.5).dtype).toBe('float32');
    expect(np.divide(np.array([1], { dtype: 'int32' }), 2).toArray()).toEqual([0.5]);
    expect(np.floorDivide(np.array([-7, 7], { dtype: 'int32' }), 2).toArray()).toEqual([-4, 3]);
    expect(np.remainder(np.array([-7, 7], { dtype: 'int32' }), 3).toArray()).toEqual([2, 1]);
    expect(np.round(np.array([0.5, 1.5, 2.5, -0.5])).toArray()).toEqual([0, 2, 2, -0]);
    expect(np.clip(np.array([-2, 0, 2]), -1, 1).toArray()).toEqual([-1, 0, 1]);
    expect(np.where(np.array([true, false]), 1, np.array([5, 6])).toArray()).toEqual([1, 6]);
    expect(np.logicalAnd(np.array([1, 0, 1]), np.array([true, true, false])).toArray()).toEqual([true, false, false]);
    expect(np.erf(np.array([0.5])).item()).toBeCloseTo(0.5204998778, 6);
    expect(np.erfinv(np.array([0.5])).item()).toBeCloseTo(0.4769362762, 6);
    expect(np.isnan(np.divide(0, np.array([0]))).toArray()).toEqual([true]);
    expect(np.eye(2, 3, { k: 1 }).toArray()).toEqual([
      [0, 1, 0],
      [0, 0, 1],
    ]);
    expect(np.linspace(0, 1, 5).toArray()).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(np.arange(1, 2, 0.25).toArray()).toEqual([1, 1.25, 1.5, 1.75]);
  });
  it('erfinv in float64 is accurate to a few ulps, the tails near ±1 included (mpmath at 40 digits, of each double x)', () => {
    const cases: [number, number][] = [
      [0.5, 0.47693627620446987338],
      [-0.3, -0.27246271472675434502],
      [0.9, 1.1630871536766741628],
      [0.99, 1.8213863677184494559],
      [-0.85, -1.0179024648320275882],
      [0.85000001, 1.0179024898083510281],
      [-0.999999, -3.4589107372754987775],
      [0.999999999999, 5.0420318985726961301],
      [1 - 2 ** -50, 5.6861284413103909801],
      [1e-300, 8.8622692545275803586e-301],
    ];
    const got = np
      .erfinv(
        np.array(
          cases.map(([x]) => x),
          { dtype: 'float64' },
        ),
      )
      .dataSync();
    cases.forEach(([x, want], i) =>
      expect(Math.abs(got[i] - want) / Math.abs(want), `erfinv(${x})`).toBeLessThan(4e-16),
    );
    expect(np.erfinv(np.array([1, -1, 1.5, NaN, -0], { dtype: 'float64' })).toArray()).toEqual([
      Infinity,
      -Infinity,
      NaN,
      NaN,
      -0,
    ]);
  });
});

describe('fancy indexing (numpy and JAX semantics)', () => {
  // Reference: plain loops over the row-major elements of a 2-d array.
  const matrix = fc
    .tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }))
    .map(([r, c]) => np.arange(r * c).reshape(r, c));
  const indicesFor = (n: number, len = fc.integer({ min: 0, max: 6 })) =>
    len.chain((k) => fc.array(fc.integer({ min: -n, max: n - 1 }), { minLength: k, maxLength: k }));
  const wrap = (i: number, n: number) => (i < 0 ? i + n : i);
  const rows = (x: Array) => x.toArray() as number[][];

  it('integer lists and arrays pick elements: x[i], x[:, j], x[i, j] (broadcast), x[i, 1:]', () =>
    fc.assert(
      fc.property(
        matrix.chain((x) => fc.tuple(fc.constant(x), indicesFor(x.shape[0]), indicesFor(x.shape[1]))),
        ([x, i, j]) => {
          const [r, c] = x.shape;
          const m = rows(x);
          expect(x.at(i).get().toArray()).toEqual(i.map((k) => m[wrap(k, r)]));
          expect(x.at(null, new Int32Array(j)).get().toArray()).toEqual(m.map((row) => j.map((k) => row[wrap(k, c)])));
          if (j.length) {
            // one column broadcasts against every row index
            expect(x.at(i, [j[0]]).get().toArray()).toEqual(i.map((k) => m[wrap(k, r)][wrap(j[0], c)]));
            if (j.length > 1)
              expect(() => x.at([0, 0, 0, 0, 0, 0, 0], j).get()).toThrow(/at: cannot broadcast shapes \(7,\)/);
          }
          expect(x.at(i, '1:').get().toArray()).toEqual(i.map((k) => m[wrap(k, r)].slice(1)));
        },
      ),
    ));
  it('updates: add accumulates repeated positions, set keeps the last write, multiply multiplies each', () =>
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 6 })
          .chain((n) => fc.tuple(fc.constant(n), indicesFor(n, fc.integer({ min: 1, max: 8 })))),
        ([n, idx]) => {
          const v = idx.map((_, k) => k + 2);
          const added = globalThis.Array<number>(n).fill(0);
          const set = globalThis.Array<number>(n).fill(0);
          const multiplied = globalThis.Array<number>(n).fill(1);
          idx.forEach((i, k) => {
            added[wrap(i, n)] += v[k];
            set[wrap(i, n)] = v[k];
            multiplied[wrap(i, n)] *= v[k];
          });
          const vs = np.array(v);
          expect(np.zeros([n]).at(idx).add(vs).toArray()).toEqual(added);
          expect(np.zeros([n]).at(idx).set(vs).toArray()).toEqual(set);
          expect(np.ones([n]).at(idx).multiply(vs).toArray()).toEqual(multiplied);
          // Under jit the indices are traced: positions are sorted to find the last write.
          const traced = jit((i: Array, u: Array) => np.zeros([n]).at(i).set(u));
          expect(traced(np.array(idx, { dtype: 'int32' }), vs).toArray()).toEqual(set);
        },
      ),
    ));
  it('numpy places broadcast index dimensions first when slices separate the index arrays', () => {
    const x = np.arange(24).reshape(2, 3, 4);
    expect(x.at([0, 1], null, [1, 2]).get().shape).toEqual([2, 3]); // separated: (2,) first
    expect(x.at(null, [0, 2], [1, 3]).get().shape).toEqual([2, 2]); // adjacent: in place
    // numpy's famous case: the integer 0 is an index array too, separated from [1, 3] by a slice.
    expect(x.at(0, null, [1, 3]).get().toArray()).toEqual([
      [1, 5, 9],
      [3, 7, 11],
    ]);
    expect(x.at('...', [3]).get().shape).toEqual([2, 3, 1]);
  });
  it('boolean masks select in row-major order; an update by a mask is a where, so it runs under jit', () => {
    const x = np.arange(12).reshape(3, 4);
    const big = np.greater(x, 6);
    expect(x.at(big).get().toArray()).toEqual([7, 8, 9, 10, 11]);
    expect(
      x
        .at(np.array([true, false, true]))
        .get()
        .toArray(),
    ).toEqual([rows(x)[0], rows(x)[2]]);
    const zeroed = rows(x).map((row) => row.map((v) => (v > 6 ? 0 : v)));
    expect(x.at(big).set(0).toArray()).toEqual(zeroed);
    expect(jit((a: Array, m: Array) => a.at(m).set(0))(x, big).toArray()).toEqual(zeroed);
    expect(
      x
        .at(np.greater(x, 8))
        .set(np.array([1, 2, 3]))
        .slice(2)
        .toArray(),
    ).toEqual([8, 1, 2, 3]);
    expect(() => jit((a: Array, m: Array) => a.at(m).get())(x, big)).toThrow(/at: a boolean mask \(3, 4\) under jit/);
    expect(() => x.at(np.array([true, false])).get()).toThrow(/at: boolean mask of shape \(2,\) does not match/);
  });
  it('traced indices: reads clamp and updates drop out-of-range positions (JAX); known ones are errors', () => {
    const x = np.arange(4);
    const i = np.array([0, 7, 2], { dtype: 'int32' });
    expect(jit((a: Array, k: Array) => a.at(k).get())(x, i).toArray()).toEqual([0, 3, 2]);
    expect(jit((a: Array, k: Array) => a.at(k).set(9))(x, i).toArray()).toEqual([9, 1, 9, 3]);
    expect(() => x.at(i).get()).toThrow(/at: index 7 is out of bounds for axis 0 with size 4/);
    expect(() => x.at([1.5]).get()).toThrow(/at: index 1.5 is not an integer/);
    expect(() => x.at(np.array([1.5])).get()).toThrow(/at: indices must be integers or booleans, got float32/);
    expect(() => np.take(x, np.array([1.5]))).toThrow(/take: indices must be integers, got float32/);
    expect(() => x.at('...', '...').get()).toThrow(/only one '...'/);
  });
  it('vmap and grad go through fancy reads and updates', () => {
    const idx = np.array(
      [
        [0, 1],
        [4, 3],
      ],
      { dtype: 'int32' },
    );
    expect(vmap((k: Array) => np.arange(5).at(k).get())(idx).toArray()).toEqual([
      [0, 1],
      [4, 3],
    ]);
    expect(grad((a: Array) => np.sum(a.at([0, 0, 2]).get()))(np.ones([3])).toArray()).toEqual([2, 0, 1]);
    // The overwritten write (first of the two to position 1) gets no gradient.
    expect(grad((u: Array) => np.sum(np.ones([4]).at([1, 1, 3]).set(u)))(np.array([5, 6, 7])).toArray()).toEqual([
      0, 1, 1,
    ]);
  });
  it('typed arrays go out without a copy through view(); dataSync() gives a copy of your own', () => {
    const data = new Float32Array([1, 2, 3, 4, 5, 6]);
    const a = np.array(data, { shape: [2, 3] });
    expect(a.view()).toBe(data);
    const copy = a.dataSync();
    expect(copy).not.toBe(data);
    expect(globalThis.Array.from(copy)).toEqual(globalThis.Array.from(data));
    const y = jit((x: Array) => np.multiply(x, 2))(a);
    expect(y.view()).toBe(y.view());
    expect(globalThis.Array.from(y.view())).toEqual([2, 4, 6, 8, 10, 12]);
    // float16 is stored as bit patterns: view() decodes it once.
    const h = np.array([0.5, 1.5], { dtype: 'float16' });
    expect(globalThis.Array.from(h.view())).toEqual([0.5, 1.5]);
    expect(h.view()).toBe(h.view());
    expect(() => jit((x: Array) => np.array(x.view()))(a)).toThrow(/view: the value of a traced array/);
  });
  it('typed arrays come in without a copy where the dtype matches', () => {
    const data = new Float32Array([1, 2, 3, 4, 5, 6]);
    const a = np.array(data, { shape: [2, 3] });
    expect(a.toArray()).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect((a as ConcreteArray).buffer).toBe(data);
    expect(np.add(new Int32Array([1, 2]), 1).toArray()).toEqual([2, 3]);
    expect(np.array(new Float64Array([1.5])).dtype).toBe('float64');
    expect(() => np.array(data, { shape: [4, 2] })).toThrow(/array: shape \(4, 2\) does not hold the 6 elements/);
    const huge = new Float32Array(100_000);
    const message = (() => {
      try {
        np.array([huge as never]);
      } catch (e) {
        return (e as Error).message;
      }
    })();
    expect(message).toMatch(/array: element 0 is a Float32Array/);
    expect(message!.length).toBeLessThan(100);
  });
});

describe('docs/arrays.md', () => {
  it('runs: every code block of the guide executes as written', async () => {
    const guide = readFileSync(join(import.meta.dirname, '../docs/arrays.md'), 'utf8');
    const blocks = [...guide.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1].replace(/^import .*$/m, ''));
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    const AsyncFunction = (async () => {}).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<void>;
    for (const code of blocks) await new AsyncFunction('np', code)(np);
  });
});

describe('errors name the function and the shapes', () => {
  it('shape mismatches', () => {
    expect(() => np.add(np.ones([3]), np.ones([4]))).toThrow(
      new ShapeError('add: cannot broadcast shapes (3,) and (4,)'),
    );
    expect(() => np.matmul(np.ones([2, 3]), np.ones([4, 2]))).toThrow(
      /matmul: inner dimensions differ: \(2, 3\) @ \(4, 2\)/,
    );
    expect(() => np.reshape(np.ones([6]), [4, 2])).toThrow(/reshape: cannot reshape \(6,\) \(size 6\) into \(4, 2\)/);
    expect(() => np.concatenate([np.ones([2, 2]), np.ones([3, 3])], { axis: 0 })).toThrow(
      /concatenate: shapes \(2, 2\), \(3, 3\) do not agree off axis 0/,
    );
  });
  it('bad axes, indices and dtypes', () => {
    expect(() => np.sum(np.ones([2, 2]), { axis: 2 })).toThrow(
      new ValueError('sum: axis 2 is out of bounds for an array of rank 2'),
    );
    expect(() => np.ones([3]).slice(3)).toThrow(/slice: index 3 is out of bounds for axis 0 with size 3/);
    expect(() => np.bitwiseAnd(np.ones([2]), np.ones([2]))).toThrow(/and: dtype float32 is not supported/);
    expect(() => np.einsum('ij,jk->ik', np.ones([2, 3]), np.ones([4, 2]))).toThrow(
      /einsum: index 'j' has sizes 3 and 4/,
    );
  });
  it('unknown or mistyped options', () => {
    expect(() => np.sum(np.ones([2]), { axes: 0 } as never)).toThrow(
      new OptionError("sum: unknown option 'axes' (valid options: axis, keepdims)"),
    );
    expect(() => np.zeros([2], { dtype: 'int64' } as never)).toThrow(/full: option 'dtype' must be a dtype name/);
    expect(() => np.ones([2])).not.toThrow();
    expect(new ShapeError('x')).toBeInstanceOf(FluxionError);
  });
});

describe('pytrees', () => {
  it('flatten/unflatten round trips on arbitrary trees', () =>
    fc.assert(
      fc.property(pytree, (t) => treeRoundTrips(t)),
      { numRuns: 50 },
    ));
  it('map over several trees, sorted keys, null as empty', () => {
    const a = { b: np.array(1), a: [np.array(2), null] };
    expect(tree.leaves(a).map((x: Array) => x.item())).toEqual([2, 1]);
    const s = tree.map((x: Array, y: Array) => x.add(y), a, a);
    expect(s.b.item()).toBe(2);
    expect(s.a[1]).toBe(null);
    expect(() => tree.map((x: Array) => x, a, { b: np.array(1) })).toThrow(/tree 1 has structure \{b: \*\}/);
    expect(tree.structuresEqual(tree.structure(a), tree.structure(s))).toBe(true);
    expect(() => tree.flatten(new Map())).toThrow(/neither a leaf/);
  });
});

describe('random', () => {
  it('threefry2x32 reproduces the Random123 known-answer vectors', () => {
    expect(threefry2x32Block(0, 0, 0, 0)).toEqual([0x6b200159, 0x99ba4efe]);
    expect(threefry2x32Block(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff)).toEqual([0x1cb996fc, 0xbb002be7]);
    expect(threefry2x32Block(0x13198a2e, 0x03707344, 0x243f6a88, 0x85a308d3)).toEqual([0xc4923a9c, 0x483df7a0]);
  });
  it('keys split as in JAX (PRNGKey(0) split)', () => {
    expect(random.key(0).toArray()).toEqual([0, 0]);
    expect(random.split(random.key(0)).toArray()).toEqual([
      [4146024105, 967050713],
      [2718843009, 1272950319],
    ]);
  });
  it('a composite with a cache key traces its decomposition once per key and operand shapes', () => {
    let traces = 0;
    const twice = (x: Array) => {
      traces++;
      return [np.multiply(x, 2)];
    };
    const [x, y] = [np.arange(3), np.arange(4)];
    const call = (v: Array, cacheKey?: string) => composite('twice', twice, [v], { cacheKey })[0];
    expect(call(x, 'k').toArray()).toEqual([0, 2, 4]);
    expect(call(x, 'k').toArray()).toEqual([0, 2, 4]);
    expect(traces).toBe(1);
    expect(call(y, 'k').toArray()).toEqual([0, 2, 4, 6]); // another shape: traced again
    expect(call(x, 'other').toArray()).toEqual([0, 2, 4]);
    expect(traces).toBe(3);
    call(x);
    call(x);
    expect(traces).toBe(5); // without a key, every call traces
    expect(jit((v: Array) => call(v, 'k'))(x).toArray()).toEqual([0, 2, 4]);
    expect(traces).toBe(5);
  });
  it('a composite with an eager form traces its decomposition only when a transform records the call', () => {
    let traces = 0;
    const twice = (x: Array) => {
      traces++;
      return [np.multiply(x, 2)];
    };
    const eager = ([v]: ConcreteArray[]) => [
      new ConcreteArray(
        v.buffer.map((e) => 2 * e),
        v.shape,
        v.dtype,
      ),
    ];
    const call = (v: Array) => composite('twice', twice, [v], { eager })[0];
    const constant = np.arange(3); // made from constants only: its results are constants too, as with bind
    expect(call(constant).toArray()).toEqual([0, 2, 4]);
    expect(traces).toBe(0);
    expect(weakConstants.has(call(constant))).toBe(weakConstants.has(np.multiply(constant, 2)));
    expect(weakConstants.has(call(np.array([0, 1, 2])))).toBe(false);
    expect(jit(call)(constant).toArray()).toEqual([0, 2, 4]);
    expect(grad((v: Array) => np.sum(call(v)))(np.array([1, 2])).toArray()).toEqual([2, 2]);
    expect(traces).toBe(2);
  });
  it("bits and uniform samples computed eagerly in one pass equal their decomposition (compiled) and JAX's words", () => {
    expect(random.bits(random.key(0), [4]).toArray()).toEqual(random.split(random.key(0)).reshape([4]).toArray());
    for (const shape of [[0], [1], [3], [2, 5], [4, 4], [1001]])
      for (const [minval, maxval] of [
        [0, 1],
        [-0.1, 0.37],
        [-3, -2],
        [-1 + 2 ** -24, 1],
      ]) {
        const k = random.key(shape.length * 7 + shape[0]);
        const sample = (kv: Array) => [random.bits(kv, shape), random.uniform(kv, shape, { minval, maxval })];
        const [eager, compiled] = [sample(k), jit(sample)(k)]; // jit lowers the decomposition to ONNX
        eager.forEach((e, i) => {
          expect(e.dtype).toBe(compiled[i].dtype);
          expect(e.shape).toEqual(compiled[i].shape);
          expect(e.toArray()).toEqual(compiled[i].toArray());
        });
      }
    // Batched keys go through the decomposition's batching rule.
    const keys = random.split(random.key(5), 3);
    const batched = vmap((kv: Array) => random.uniform(kv, [4], { minval: -2, maxval: 2 }))(keys);
    expect(batched.toArray()).toEqual(
      [0, 1, 2].map((i) => random.uniform(np.slice(keys, i), [4], { minval: -2, maxval: 2 }).toArray()),
    );
  });
  it('samplers have the right ranges and moments, deterministic per key', () => {
    const k = random.key(42);
    const u = random.uniform(k, [20000]);
    expect(np.min(u).item()).toBeGreaterThanOrEqual(0);
    expect(np.max(u).item()).toBeLessThan(1);
    expect(Math.abs(np.mean(u).item() - 0.5)).toBeLessThan(0.01);
    const n = random.normal(k, [20000]);
    expect(Math.abs(np.mean(n).item())).toBeLessThan(0.03);
    expect(Math.abs(np.std(n).item() - 1)).toBeLessThan(0.03);
    assertClose(random.normal(k, [5]), random.normal(k, [5]), { rtol: 0, atol: 0 });
    const [k1, k2] = random.split(k);
    expect(random.uniform(k1, [3]).toArray()).not.toEqual(random.uniform(k2, [3]).toArray());
    expect(random.foldIn(k, 1).toArray()).not.toEqual(random.foldIn(k, 2).toArray());
    const b = random.bernoulli(k, 0.3, [10000]);
    expect(Math.abs(np.mean(b.astype('float32')).item() - 0.3)).toBeLessThan(0.02);
    const r = random.randint(k, [1000], 3, 7);
    expect([np.min(r).item(), np.max(r).item()]).toEqual([3, 6]);
    expect(np.sort(random.permutation(k, 10)).toArray()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const t = random.truncatedNormal(k, -1, 1, [1000]);
    expect(np.max(np.abs(t)).item()).toBeLessThanOrEqual(1);
    const c = random.categorical(k, np.log(np.array([0.1, 0.9])), {});
    expect([0, 1]).toContain(c.item());
    expect(() => random.uniform(np.array([1, 2, 3]), [2])).toThrow(/expected a key \(uint32 of shape \(2,\)\)/);
  });
});

describe('concrete arrays', () => {
  it('scalar helper and dtype coercion', () => {
    expect(ConcreteArray.scalar(3.7, 'int32').item()).toBe(3);
    expect(np.array([1.5, -1.5]).astype('int32').toArray()).toEqual([1, -1]);
    expect(np.array([0, 2]).astype('bool').toArray()).toEqual([false, true]);
  });
});
