// Regression tests for silent wrong answers found by fuzzing (issue 11's list): each asserts the
// numpy/JAX result, eagerly and under jit (the ONNX Runtime path on the CPU).
import { describe, expect, it } from 'vitest';
import { type Array, FluxionError, grad, io, jit, nn, np, vmap } from '../src/index.js';

const both = (f: () => Array) => [f(), jit(f)()];

describe('silent wrong answers, fixed', () => {
  it('JS lists are arrays wherever an array is accepted; non-numbers are clear errors', () => {
    expect(np.add([1, 2], 1).toArray()).toEqual([2, 3]);
    expect(np.multiply([[1], [2]], [1, 10]).toArray()).toEqual([
      [1, 10],
      [2, 20],
    ]);
    expect(() => np.sum('abc' as never)).toThrow(FluxionError);
    expect(() => np.sum('abc' as never)).toThrow(
      /expected an array, a nested list, a number or a boolean, got the string "abc"/,
    );
    expect(() => np.add(null as never, 1)).toThrow(/add: .* got null/);
  });

  it('cumsum keeps NaN and infinity where they are', () => {
    for (const y of both(() => np.cumsum(np.array([1, NaN, 2, 3])))) expect(y.toArray()).toEqual([1, NaN, NaN, NaN]);
    for (const y of both(() => np.cumsum(np.array([Infinity, 1, -2]))))
      expect(y.toArray()).toEqual([Infinity, Infinity, Infinity]);
    for (const y of both(() =>
      np.cumsum(
        np
          .array([3, NaN, 2])
          .reshape([3, 1])
          .add(np.zeros([3, 2])),
        { axis: 0 },
      ),
    )) {
      expect(y.toArray()).toEqual([
        [3, 3],
        [NaN, NaN],
        [NaN, NaN],
      ]);
    }
    expect(np.cumsum(np.array([5, 1, 2, 3, 4, 6, 7]).astype('int32')).toArray()).toEqual([5, 6, 8, 11, 15, 21, 28]);
  });

  it('NaN converts to true, as in numpy and JAX', () => {
    for (const y of both(() => np.array([NaN, 0, -0, 2]).astype('bool')))
      expect(y.toArray()).toEqual([true, false, false, true]);
    expect(np.logicalNot(np.array([NaN])).toArray()).toEqual([false]);
    expect(np.any(np.array([0, NaN])).item()).toBe(1);
    expect(np.where(np.array([NaN]), 1, 2).toArray()).toEqual([1]);
  });

  it('softmax stays exact on large logits, and log-softmax with a masked logit is finite', () => {
    for (const y of both(() => nn.functional.softmax(np.array([1e7, 1e7])))) expect(y.toArray()).toEqual([0.5, 0.5]);
    for (const y of both(() => nn.functional.logSoftmax(np.array([1e7, 1e7 + 1])))) {
      const [a, b] = y.toArray() as number[];
      expect(a).toBeCloseTo(-1.3132616, 5);
      expect(b).toBeCloseTo(-0.3132617, 5);
    }
    for (const y of both(() => nn.functional.logSoftmax(np.array([0, -Infinity]))))
      expect(y.toArray()).toEqual([0, -Infinity]);
  });
});

describe('safetensors files are untrusted input', () => {
  /** A file from a header object and a data length (bytes of zeros). */
  const file = (header: object, dataBytes: number) => {
    const json = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(8 + json.length + dataBytes);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(json, 8);
    return out;
  };
  const f32 = (shape: number[], begin: number, end: number) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });

  it('names cannot reach object prototypes', () => {
    for (const name of ['__proto__.x', 'constructor.prototype.x', 'a.__proto__']) {
      expect(() => io.loadSafetensors(file({ [name]: f32([1], 0, 4) }, 4))).toThrow(/reserved segment/);
    }
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
  it('offsets must cover the data exactly once; shapes are non-negative integers', () => {
    expect(() => io.loadSafetensors(file({ a: f32([1], 0, 4), b: f32([1], 2, 6) }, 8))).toThrow(/overlap/);
    expect(() => io.loadSafetensors(file({ a: f32([1], 0, 4) }, 8))).toThrow(/4 bytes after the last tensor/);
    expect(() => io.loadSafetensors(file({ a: f32([1.5], 0, 6) }, 6))).toThrow(/not non-negative integers/);
    expect(() => io.loadSafetensors(file({ a: f32([-1], 0, 0) }, 0))).toThrow(/not non-negative integers/);
  });
  it('a name that is both a tensor and a group is refused, on load and on save', () => {
    expect(() => io.loadSafetensors(file({ a: f32([1], 0, 4), 'a.b': f32([1], 4, 8) }, 8))).toThrow(
      /prefix|both a tensor and a group/,
    );
    expect(() => io.saveSafetensors({ 'a.b': np.ones([1]), a: { b: np.ones([1]) } })).toThrow(/both named 'a.b'/);
    expect(() => io.saveSafetensors({ __metadata__: np.ones([1]) })).toThrow(/__metadata__/);
  });
  it('round-trips a tree', () => {
    const back = io.loadSafetensors(
      io.saveSafetensors({ conv: { weight: np.ones([2, 2]) }, bias: np.zeros([3]) }, { format: 'pt' }),
    );
    expect(back.metadata).toEqual({ format: 'pt' });
    expect(back.params.conv.weight.toArray()).toEqual([
      [1, 1],
      [1, 1],
    ]);
  });
});

describe('softmaxCrossEntropy', () => {
  it('a masked (-inf) logit with no target weight adds nothing, eagerly and through jit(grad)', () => {
    const logits = np.array([[0, -Infinity, 1]]),
      labels = np.array([2], { dtype: 'int32' });
    const want = -(1 - Math.log(Math.exp(0) + Math.exp(1)));
    for (const y of both(() => nn.softmaxCrossEntropy(logits, labels))) expect(y.item()).toBeCloseTo(want, 5);
    const g = jit(grad((z: Array) => nn.softmaxCrossEntropy(z, labels)))(logits).toArray() as number[][];
    expect(g[0].every(Number.isFinite)).toBe(true);
  });
  it('labels outside the classes are an error when known, NaN under tracing; labelSmoothing stays in [0, 1]', () => {
    const logits = np.zeros([2, 3]);
    expect(() => nn.softmaxCrossEntropy(logits, np.array([0, 3], { dtype: 'int32' }))).toThrow(
      /label 3 is outside \[0, 3\)/,
    );
    expect(
      (
        jit((l: Array) => nn.softmaxCrossEntropy(logits, l, { reduction: 'none' }))(
          np.array([0, -1], { dtype: 'int32' }),
        ).toArray() as number[]
      )[1],
    ).toBeNaN();
    expect(() => nn.softmaxCrossEntropy(logits, np.array([0, 1], { dtype: 'int32' }), { labelSmoothing: 1.5 })).toThrow(
      /labelSmoothing 1.5 must be in \[0, 1\]/,
    );
  });
});

describe('found by the fuzz suite, fixed at the root', () => {
  const inJit = <T>(f: (x: Array) => T, x: Array) => [f(x), jit(f)(x)];
  it('zero-size results need no ONNX Runtime kernel (TopK on an empty row crashed the process)', () => {
    const x = np.zeros([2, 0, 3]);
    for (const y of inJit((a) => np.argsort(a, { axis: 0 }), x)) expect((y as Array).shape).toEqual([2, 0, 3]);
    for (const y of inJit((a) => np.add(np.reshape(a, [0, 2, 3]), 1), x)) expect((y as Array).shape).toEqual([0, 2, 3]);
  });
  it('reductions under jit keep numpy semantics: empty is the identity, NaN propagates, int32 wraps', () => {
    for (const y of inJit((a) => np.any(a, { axis: 1 }), np.zeros([3, 0])))
      expect((y as Array).toArray()).toEqual([false, false, false]);
    for (const y of inJit((a) => np.sum(a, { axis: 1 }), np.zeros([2, 0])))
      expect((y as Array).toArray()).toEqual([0, 0]);
    for (const y of inJit((a) => np.max(a), np.array([1, NaN, 1e38]))) expect((y as Array).item()).toBeNaN();
    for (const y of inJit((a) => np.argmax(a), np.array([Infinity, 1, NaN, NaN]))) expect((y as Array).item()).toBe(2);
    const big = np.array([2147483647, 5], { dtype: 'int32' });
    for (const y of inJit((a) => np.sum(a), big)) expect((y as Array).item()).toBe(-2147483644);
    for (const y of inJit((a) => np.prod(a), big)) expect((y as Array).item()).toBe(2147483643);
    // Wrapping at every step, not rounding a float64 product at the end (which gave 0 here).
    const cube = np.array([2147483647, 2147483647, 2147483647, 3], { dtype: 'int32' });
    for (const y of inJit((a) => np.prod(a), cube)) expect((y as Array).item()).toBe(2147483645);
    for (const y of inJit((a) => np.sort(a), np.array([3, NaN, 1, 2])))
      expect((y as Array).toArray()).toEqual([1, 2, 3, NaN]);
  });
  it('int32 division by -1 of the most negative value wraps under jit (the CPU instruction traps)', () => {
    const lo = np.array([-2147483648, 7], { dtype: 'int32' }),
      d = np.array([-1, 0], { dtype: 'int32' });
    for (const f of [np.floorDivide, np.remainder])
      expect(jit((a: Array, b: Array) => f(a, b))(lo, d).toArray()).toEqual(f(lo, d).toArray());
    expect(np.floorDivide(lo, d).toArray()).toEqual([-2147483648, 0]);
  });
  it('log1p and expm1 of large values do not overflow under jit; relu keeps NaN', () => {
    for (const y of inJit((a) => np.log1p(a), np.array([1e38, 3e38]))) {
      const [p, q] = (y as Array).toArray() as number[];
      expect(p).toBeCloseTo(Math.log1p(1e38), 4);
      expect(q).toBeCloseTo(Math.log1p(3e38), 4);
    }
    for (const y of inJit((a) => np.expm1(a), np.array([80, -80]))) {
      const [p, q] = (y as Array).toArray() as number[];
      expect(p / Math.expm1(80)).toBeCloseTo(1, 5);
      expect(q).toBe(-1);
    }
    expect(nn.functional.relu(np.array([NaN, -1, 0, 2])).toArray()).toEqual([NaN, 0, 0, 2]);
    expect(grad((x: Array) => np.sum(nn.functional.relu(x)))(np.array([0, 1])).toArray()).toEqual([0, 1]);
  });
  it('invalid sizes, axes and argument types are FluxionErrors naming the op and the value', () => {
    expect(() => np.linspace(0, 1, 2.5)).toThrow(/linspace: num must be a non-negative integer, got 2.5/);
    expect(() => np.linspace(0, 1, -1)).toThrow(FluxionError);
    expect(() => np.zeros(1e12)).toThrow(/has 1000000000000 elements, more than 2147483647/);
    expect(() => np.eye(-1)).toThrow(/eye: n must be a non-negative integer, got -1/);
    expect(() => np.tile(np.ones([2]), -1)).toThrow(/tile: reps must be a non-negative integer, got -1/);
    expect(() => np.broadcastTo(np.ones([1]), [3, -1])).toThrow(/shape \(3, -1\) must be non-negative integers/);
    expect(() => np.repeat(np.ones([2]), 1.5)).toThrow(/repeat: repeats must be a non-negative integer/);
    expect(() => np.expandDims(np.ones([2]), null as never)).toThrow(/expandDims: axis must be an integer/);
    expect(() => np.split(np.ones([4]), undefined as never)).toThrow(/split: sections must be a number/);
    expect(() => np.pad(np.ones([2]), null as never)).toThrow(/pad: padWidth must be a number or a list/);
    expect(() => np.sum(np.ones([2]), { axis: 'a' as never })).toThrow(FluxionError);
    expect(np.zerosLike(3).shape).toEqual([]);
    expect(np.onesLike([[1, 2]]).toArray()).toEqual([[1, 1]]);
    expect(np.zeros([0, 1e12]).shape).toEqual([0, 1e12]); // empty, so valid (as in numpy)
  });
});

describe('conversions agree on every backend', () => {
  it('float to int saturates and maps NaN to 0 (as WGSL converts); 1 to any power is 1', () => {
    const x = np.array([NaN, Infinity, -Infinity, 3e9, -3e9, -2.7, 2.7]);
    const want = [0, 2147483647, -2147483648, 2147483647, -2147483648, -2, 2];
    expect(x.astype('int32').toArray()).toEqual(want);
    expect(jit((a: Array) => a.astype('int32'))(x).toArray()).toEqual(want);
    const p = np.power(np.array([1, 1, NaN]), np.array([NaN, Infinity, 0]));
    expect(p.toArray()).toEqual([1, 1, 1]);
    expect(
      jit((a: Array, b: Array) => np.power(a, b))(np.array([1, 1, NaN]), np.array([NaN, Infinity, 0])).toArray(),
    ).toEqual([1, 1, 1]);
    expect(() => np.split(np.zeros([0, 2]), 1.5)).toThrow(/split: sections must be a positive integer/);
    expect(() => np.split(np.zeros([0, 2]), 1e12)).toThrow(/split: 1000000000000 sections .* too many arrays/);
    expect(np.split(np.zeros([0, 2]), 3).map((p) => p.shape)).toEqual([
      [0, 2],
      [0, 2],
      [0, 2],
    ]);
  });
});

describe('integers and batched indexing', () => {
  it('JS numbers past int32 are errors, not silent wraps; arange counts integers exactly', () => {
    expect(() => np.multiply(3e9, 2)).toThrow(/multiply: 3000000000 does not fit in int32/);
    expect(() => np.add(np.array([1], { dtype: 'int32' }), 3e9)).toThrow(FluxionError);
    expect(() => np.array([3e9], { dtype: 'int32' })).toThrow(/does not fit in int32/);
    expect(np.add(np.array([1.5]), 3e9).toArray()).toEqual([3e9]); // float32 holds it
    expect(np.arange(16777217, 16777221).toArray()).toEqual([16777217, 16777218, 16777219, 16777220]);
    expect(() => np.arange(2147483640, 2147483650)).toThrow(/arange: 2147483649 does not fit in int32/);
    expect(() => np.arange(0, Infinity)).toThrow(/finite/);
  });
  it('vmap of take/takeAlongAxis clamps out-of-range indices within each batch row', () => {
    const x = np.array([
      [1, 2, 3],
      [10, 20, 30],
    ]);
    const idx = np.array(
      [
        [5, 0],
        [-9, 2],
      ],
      { dtype: 'int32' },
    );
    const rows = [0, 1].map((b) => np.takeAlongAxis(np.slice(x, b), np.slice(idx, b), 0).toArray());
    expect(vmap((r: Array, i: Array) => np.takeAlongAxis(r, i, 0))(x, idx).toArray()).toEqual(rows);
    expect(rows).toEqual([
      [3, 1],
      [10, 30],
    ]);
  });
});
