/**
 * Dtypes: float16/bfloat16 bits, rounding against an independent reference, JAX's promotion table,
 * results rounded to their dtype on every CPU path, and arrays as JS values.
 */
import { describe, expect, it } from 'vitest';
import {
  type NDArray,
  ConcreteArray,
  DTypeError,
  FluxionError,
  TraceError,
  grad,
  jit,
  np,
  setCpuBackend,
} from '../src/index.js';
import { type DType, dtypes, fromStorage, promote, toStorage } from '../src/core/dtype.js';

/** A deterministic stream of 32-bit words (xorshift32). */
function words(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>>= 0);
  };
}

/**
 * Reference rounding by search: the finite values of a 16-bit format sorted, the nearest one to `v`,
 * ties to the even bit pattern, infinity past the largest value plus half its spacing.
 */
function referenceRounding(dtype: 'float16' | 'bfloat16') {
  const all = fromStorage(
    dtype,
    Uint16Array.from({ length: 65536 }, (_, i) => i),
  );
  const finite = [...all.keys()].filter((h) => Number.isFinite(all[h]) && !(h === 0x8000));
  finite.sort((a, b) => all[a] - all[b]);
  const values = finite.map((h) => all[h]);
  const max = values[values.length - 1];
  const spacing = max - values[values.length - 2];
  return (v: number): number => {
    if (Number.isNaN(v)) return NaN;
    if (Math.abs(v) >= max + spacing / 2) return Math.sign(v) * Infinity;
    let lo = 0,
      hi = values.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (values[mid] <= v) lo = mid;
      else hi = mid;
    }
    const [a, b] = [values[lo], values[hi]];
    const da = Math.abs(v - a),
      db = Math.abs(v - b);
    const picked = da < db ? lo : db < da ? hi : finite[lo] % 2 === 0 ? lo : hi;
    const r = values[picked];
    return r === 0 ? (v < 0 || Object.is(v, -0) ? -0 : 0) : r;
  };
}

describe('float16 and bfloat16 storage', () => {
  for (const dtype of ['float16', 'bfloat16'] as const) {
    it(`every ${dtype} bit pattern converts to float32 and back exactly`, () => {
      const bits = Uint16Array.from({ length: 65536 }, (_, i) => i);
      const back = toStorage(dtype, fromStorage(dtype, bits));
      const differ = bits.filter((b, i) => back[i] !== b);
      expect(differ.length).toBe(0);
    });

    it(`float32 -> ${dtype} rounds to nearest even on a million values and the edge cases`, () => {
      const reference = referenceRounding(dtype);
      const next = words(dtype === 'float16' ? 7 : 11);
      const n = 1_000_000;
      const input = new Float32Array(n);
      const asBits = new Uint32Array(input.buffer);
      for (let i = 0; i < n; i++) {
        // Half the draws are any float32 bit pattern, half land in the format's own range.
        if (i % 2) asBits[i] = next();
        else input[i] = ((next() / 2 ** 32 - 0.5) * 2 * (dtype === 'float16' ? 70000 : 1)) / 2 ** (next() % 30);
      }
      const edges =
        dtype === 'float16'
          ? [
              2049,
              2051,
              1 + 2 ** -11,
              1 + 3 * 2 ** -11,
              65504,
              65519.99,
              65520,
              -65520,
              2 ** -25,
              3 * 2 ** -26,
              2 ** -24 * 1.5,
            ]
          : [1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.3895313892515355e38, 3.4e38, 2 ** -133, 2 ** -134, 2 ** -126 * 1.5];
      const all = Float32Array.from([...input, ...edges, NaN, Infinity, -Infinity, 0, -0]);
      const got = fromStorage(dtype, toStorage(dtype, all));
      let wrong = 0;
      let example = '';
      for (let i = 0; i < all.length; i++) {
        const want = reference(all[i]);
        if (!Object.is(got[i], want) && !(Number.isNaN(got[i]) && Number.isNaN(want))) {
          if (!wrong) example = `${all[i]} -> ${got[i]}, expected ${want}`;
          wrong++;
        }
      }
      expect(example).toBe('');
      expect(wrong).toBe(0);
    });
  }
});

// JAX's type promotion table (jax.readthedocs.io, "Type promotion semantics"), rows and columns in
// this order; i* and f* are weakly typed JS numbers. 64-bit integers are out of Fluxion's array
// model, so JAX's i64 entries read int32 here (as JAX without x64).
const ORDER = [
  'bool',
  'uint8',
  'uint16',
  'uint32',
  'int8',
  'int16',
  'int32',
  'bfloat16',
  'float16',
  'float32',
  'float64',
  'i*',
  'f*',
];
const JAX_TABLE = `
b1   u8   u16  u32  i8   i16  i32  bf16 f16  f32  f64  i*   f*
u8   u8   u16  u32  i16  i16  i32  bf16 f16  f32  f64  u8   f*
u16  u16  u16  u32  i32  i32  i32  bf16 f16  f32  f64  u16  f*
u32  u32  u32  u32  i64  i64  i64  bf16 f16  f32  f64  u32  f*
i8   i16  i32  i64  i8   i16  i32  bf16 f16  f32  f64  i8   f*
i16  i16  i32  i64  i16  i16  i32  bf16 f16  f32  f64  i16  f*
i32  i32  i32  i64  i32  i32  i32  bf16 f16  f32  f64  i32  f*
bf16 bf16 bf16 bf16 bf16 bf16 bf16 bf16 f32  f32  f64  bf16 bf16
f16  f16  f16  f16  f16  f16  f16  f32  f16  f32  f64  f16  f16
f32  f32  f32  f32  f32  f32  f32  f32  f32  f32  f64  f32  f32
f64  f64  f64  f64  f64  f64  f64  f64  f64  f64  f64  f64  f64
i*   u8   u16  u32  i8   i16  i32  bf16 f16  f32  f64  i*   f*
f*   f*   f*   f*   f*   f*   f*   bf16 f16  f32  f64  f*   f*`;
const NAME: Record<string, string> = {
  b1: 'bool',
  u8: 'uint8',
  u16: 'uint16',
  u32: 'uint32',
  i8: 'int8',
  i16: 'int16',
  i32: 'int32',
  i64: 'int32',
  bf16: 'bfloat16',
  f16: 'float16',
  f32: 'float32',
  f64: 'float64',
  'i*': 'int32',
  'f*': 'float32',
};

describe('promotion', () => {
  it("matches JAX's table for every pair, weak types included", () => {
    const rows = JAX_TABLE.trim()
      .split('\n')
      .map((r) => r.trim().split(/\s+/));
    const mismatches: string[] = [];
    ORDER.forEach((a, i) =>
      ORDER.forEach((b, j) => {
        const strong = [a, b].filter((d) => !d.endsWith('*')) as DType[];
        const weak = [a, b]
          .filter((d) => d.endsWith('*'))
          .map((d) => (d === 'i*' ? 'int' : 'float') as 'int' | 'float');
        const got = promote(strong, weak);
        if (got !== NAME[rows[i][j]]) mismatches.push(`${a} ${b}: ${got}, JAX ${rows[i][j]}`);
      }),
    );
    expect(mismatches).toEqual([]);
  });

  it('np.promoteTypes, np.resultType and operations follow it', () => {
    expect(np.promoteTypes('int8', 'uint8')).toBe('int16');
    expect(np.promoteTypes('bfloat16', 'float16')).toBe('float32');
    const h = np.array([1, 2], { dtype: 'float16' });
    expect(np.resultType(h, 2)).toBe('float16');
    expect(np.resultType('int8', 2.5)).toBe('float32');
    expect(h.multiply(2).dtype).toBe('float16');
    expect(np.add(h, np.array([1, 2], { dtype: 'bfloat16' })).dtype).toBe('float32');
    expect(np.add(np.array([1], { dtype: 'int8' }), np.array([1], { dtype: 'uint8' })).dtype).toBe('int16');
    expect(() => np.promoteTypes('int64' as DType, 'int8')).toThrow(DTypeError);
  });

  it('np.finfo and np.iinfo give numpy limits', () => {
    expect(np.finfo('float16')).toMatchObject({ bits: 16, max: 65504, eps: 2 ** -10, smallestNormal: 2 ** -14 });
    expect(np.finfo('float16').smallestSubnormal).toBe(2 ** -24);
    expect(np.finfo('bfloat16')).toMatchObject({ eps: 2 ** -7, max: 3.3895313892515355e38, precision: 2 });
    expect(np.finfo('float32').max).toBe(3.4028234663852886e38);
    expect(np.finfo('float64')).toMatchObject({ eps: Number.EPSILON, max: Number.MAX_VALUE, precision: 15 });
    expect(np.iinfo('int8')).toEqual({ dtype: 'int8', bits: 8, min: -128, max: 127 });
    expect(np.iinfo('uint16')).toEqual({ dtype: 'uint16', bits: 16, min: 0, max: 65535 });
    expect(() => np.finfo('int32')).toThrow(/finfo: dtype int32 is not supported/);
  });
});

describe('results are rounded to their dtype on every CPU path', () => {
  const paths = [
    ['eager', <T>(f: (...a: NDArray[]) => T) => f],
    ['jit on ONNX Runtime', <T>(f: (...a: NDArray[]) => T) => jit(f)],
    [
      'jit on the JavaScript kernels',
      <T>(f: (...a: NDArray[]) => T) =>
        (...a: NDArray[]) => {
          const previous = setCpuBackend('js');
          try {
            return jit(f)(...a);
          } finally {
            setCpuBackend(previous);
          }
        },
    ],
  ] as const;
  for (const [name, run] of paths) {
    it(name, () => {
      const h = np.array([2048, 1, 0.1], { dtype: 'float16' });
      expect(run((x) => x.add(1))(h).toArray()).toEqual([2048, 2, 1.099609375]);
      const b = np.array([256, 3.14159], { dtype: 'bfloat16' });
      expect(run((x) => x.add(1))(b).toArray()).toEqual([256, 4.125]);
      const i8 = np.array([100, -100], { dtype: 'int8' });
      expect(run((x) => x.add(x))(i8).toArray()).toEqual([-56, 56]);
      const u8 = np.array([250, 3], { dtype: 'uint8' });
      expect(run((x) => x.add(10))(u8).toArray()).toEqual([4, 13]);
      const d = np.array([1, 2], { dtype: 'float64' });
      expect(run((x) => x.add(1e-12))(d).toArray()).toEqual([1 + 1e-12, 2 + 1e-12]);
      const f = np.array([300.7, -300, NaN, 5.5]);
      for (const [dt, want] of [
        ['int8', [127, -128, 0, 5]],
        ['uint8', [255, 0, 0, 5]],
        ['int16', [300, -300, 0, 5]],
        ['float16', [300.75, -300, NaN, 5.5]],
        ['bfloat16', [300, -300, NaN, 5.5]],
      ] as const)
        expect(run((x) => x.astype(dt))(f).toArray()).toEqual(want);
    });
  }

  it('float64 keeps its precision through matmul, reductions, conv and transcendental functions', () => {
    const x = np.array(
      [
        [1 + 1e-12, 2],
        [3, 4],
      ],
      { dtype: 'float64' },
    );
    const f = (a: NDArray) => np.exp(a.matmul(a)).sum().add(a.max());
    const want =
      Math.exp((1 + 1e-12) ** 2 + 6) +
      Math.exp(2 * (1 + 1e-12) + 8) +
      Math.exp(3 * (1 + 1e-12) + 12) +
      Math.exp(22) +
      4;
    for (const g of [f, jit(f)]) {
      const y = g(x);
      expect(y.dtype).toBe('float64');
      expect(Math.abs(y.item() - want) / want).toBeLessThan(1e-14);
    }
  });

  it('storage is 16 bits for float16 and bfloat16, 8 for int8', () => {
    const stored = (d: DType) => (np.zeros([1000], { dtype: d }) as ConcreteArray).storage;
    expect(stored('float16')).toBeInstanceOf(Uint16Array);
    expect(stored('bfloat16').byteLength).toBe(2000);
    expect(stored('int8')).toBeInstanceOf(Int8Array);
    expect(stored('float64').byteLength).toBe(8000);
    // Reads give numbers: float16 decoded into a Float32Array.
    expect(np.array([0.1], { dtype: 'float16' }).dataSync()).toEqual(Float32Array.of(0.0999755859375));
  });
});

describe('arrays as JS values', () => {
  it('a one-element array converts to its number', () => {
    const x = np.array([1, 2, 3]);
    // What JavaScript does with `np.sum(x) > 0` (TypeScript asks for `+np.sum(x) > 0`).
    const asJs = (a: NDArray) => a as unknown as number;
    expect(asJs(np.sum(x)) > 0).toBe(true);
    expect(asJs(np.sum(x.neg())) > 0).toBe(false);
    expect(+np.sum(x) > 5).toBe(true);
    expect(Number(np.array(2))).toBe(2);
    expect(+np.array([[7]], { dtype: 'int8' })).toBe(7);
    expect(np.array(true).bool()).toBe(true);
    expect(String(np.array(0.5))).toBe('Array(0.5, shape=(), dtype=float32)');
  });

  it('larger and traced arrays refuse, naming why', () => {
    expect(() => Number(np.array([1, 2]))).toThrow(/shape \(2,\) is ambiguous: it has 2 elements/);
    expect(() => jit((x: NDArray) => (+np.sum(x) > 0 ? x : x.neg()))(np.ones([2]))).toThrow(TraceError);
    expect(() => jit((x: NDArray) => (+np.sum(x) > 0 ? x : x.neg()))(np.ones([2]))).toThrow(/inside jit/);
    expect(() => grad((x: NDArray) => (+x.sum() > 0 ? x.sum() : x.sum().neg()))(np.ones([2]))).toThrow(
      /inside grad\/jvp/,
    );
    expect(() => Number(np.array([1, 2]))).toThrow(FluxionError);
  });

  it('np.array reshapes to a shape option', () => {
    expect(np.array([1, 2, 3, 4], { shape: [2, 2] }).toArray()).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(() => np.array([1, 2, 3], { shape: [2, 2] })).toThrow(/shape \(2, 2\) does not hold the 3 elements/);
  });

  it('typed arrays keep their dtype, and every dtype round-trips its storage', () => {
    expect(np.array(new Int8Array([-1, 2])).dtype).toBe('int8');
    expect(np.array(new Uint8Array([255])).dtype).toBe('uint8');
    expect(np.array(new Float64Array([0.1])).item()).toBe(0.1);
    for (const d of dtypes) {
      const x = np.array([0, 1, 1], { dtype: d });
      expect(np.array(x.dataSync(), { dtype: d }).toArray()).toEqual(x.toArray());
    }
  });
});

describe('found by the fuzz campaign over every dtype', () => {
  it("pow(-1, ±inf) is 1 as in C, numpy and XLA (JavaScript's Math.pow says NaN), eager and jitted", () => {
    const f = (x: NDArray, y: NDArray) => np.power(x, y);
    const x = np.array([-1, -1, 1, -2], { dtype: 'int32' }),
      y = np.array([Infinity, -Infinity, NaN, Infinity]);
    expect(f(x, y).toArray()).toEqual([1, 1, 1, Infinity]);
    expect(jit(f)(x, y).toArray()).toEqual([1, 1, 1, Infinity]);
  });
  it('a contraction over an empty axis is zeros, also for unsigned integers on ONNX Runtime', () => {
    const e = np.zeros([0], { dtype: 'uint32' });
    const dot = (a: NDArray, b: NDArray) => np.dot(a, b);
    expect(jit(dot)(e, e.astype('uint16')).toArray()).toBe(0);
    expect(jit(dot)(np.zeros([2, 0], { dtype: 'uint8' }), np.zeros([0, 3], { dtype: 'uint32' })).toArray()).toEqual([
      [0, 0, 0],
      [0, 0, 0],
    ]);
  });
});
