// Regression tests for silent wrong answers found by fuzzing (issue 11's list): each asserts the
// numpy/JAX result, eagerly and under jit (the ONNX Runtime path on the CPU).
import { describe, expect, it } from 'vitest';
import { type Array, FluxionError, grad, io, jit, nn, np } from '../src/index.js';

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
