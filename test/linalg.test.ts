// np.linalg: reconstruction properties (fast-check), derivatives against finite differences in float64,
// transforms, backends and errors. Values against NumPy are in numpy.test.ts, against PyTorch below.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { type Array, type DType, np, grad, jit, vmap, jacrev, lax, makeGraph, FluxionError } from '../src/index.js';
import { onnxBackend } from '../src/backend/onnx.js';
import { assertClose, gradMatchesFiniteDifferences, rng } from '../laws/index.js';

const f64 = (data: number[], shape: number[]) => np.array(data, { dtype: 'float64', shape });
/** A random `shape` matrix (entries in [-1, 1)) from a fast-check seed. */
function randomMatrix(seed: number, shape: number[], dtype: DType = 'float64'): Array {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return np.array(
    globalThis.Array.from({ length: n }, () => 2 * r() - 1),
    { dtype, shape },
  );
}
const maxAbs = (x: Array) => Math.max(0, ...globalThis.Array.from(np.abs(x).dataSync() as Float64Array));
const eyeLike = (n: number, dtype: DType) => np.eye(n, n, { dtype });
// Accuracy bounds (docs/linalg.md): residuals relative to ‖A‖ at a small multiple of n·eps.
const BOUND: Record<string, number> = { float64: 1e-12, float32: 2e-5 };

const shapes = fc.record({
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
  m: fc.integer({ min: 1, max: 7 }),
  n: fc.integer({ min: 1, max: 7 }),
  batch: fc.constantFrom([], [2]),
  dtype: fc.constantFrom<DType>('float64', 'float32'),
});

describe('np.linalg reconstructions (fast-check)', () => {
  it('qr: Q R = A, Q has orthonormal columns, R is upper triangular (reduced and complete)', () => {
    fc.assert(
      fc.property(shapes, fc.boolean(), ({ seed, m, n, batch, dtype }, complete) => {
        const a = randomMatrix(seed, [...batch, m, n], dtype);
        const [q, r] = np.linalg.qr(a, { mode: complete ? 'complete' : 'reduced' });
        const k = complete ? m : Math.min(m, n);
        expect(q.shape).toEqual([...batch, m, k]);
        expect(r.shape).toEqual([...batch, k, n]);
        const tol = BOUND[dtype] * Math.max(m, n);
        expect(maxAbs(np.subtract(np.matmul(q, r), a))).toBeLessThan(tol);
        expect(maxAbs(np.subtract(np.matmul(np.swapaxes(q, -1, -2), q), eyeLike(k, dtype)))).toBeLessThan(tol);
        expect(maxAbs(np.tril(r, -1))).toBe(0);
      }),
      { numRuns: 40 },
    );
  });
  it('svd: U diag(S) Vᵀ = A with orthonormal factors and descending non-negative S', () => {
    fc.assert(
      fc.property(shapes, fc.boolean(), ({ seed, m, n, batch, dtype }, full) => {
        const a = randomMatrix(seed, [...batch, m, n], dtype);
        const [u, s, vh] = np.linalg.svd(a, { fullMatrices: full });
        const k = Math.min(m, n);
        const tol = BOUND[dtype] * Math.max(m, n);
        const us = np.multiply(np.slice(u, '...', `:${k}`), np.expandDims(s, -2));
        expect(maxAbs(np.subtract(np.matmul(us, np.slice(vh, '...', `:${k}`, ':')), a))).toBeLessThan(tol);
        expect(maxAbs(np.subtract(np.matmul(np.swapaxes(u, -1, -2), u), eyeLike(u.shape.at(-1)!, dtype)))).toBeLessThan(
          tol,
        );
        expect(
          maxAbs(np.subtract(np.matmul(vh, np.swapaxes(vh, -1, -2)), eyeLike(vh.shape.at(-2)!, dtype))),
        ).toBeLessThan(tol);
        const sv = globalThis.Array.from(s.dataSync());
        for (let b = 0; b < sv.length; b += k)
          for (let i = b; i < b + k; i++) {
            expect(sv[i]).toBeGreaterThanOrEqual(0);
            if (i > b) expect(sv[i]).toBeLessThanOrEqual(sv[i - 1]);
          }
      }),
      { numRuns: 40 },
    );
  });
  it('eigh: A V = V diag(w) with orthonormal V and ascending w', () => {
    fc.assert(
      fc.property(shapes, ({ seed, n, batch, dtype }) => {
        const b = randomMatrix(seed, [...batch, n, n], dtype);
        const a = np.add(b, np.swapaxes(b, -1, -2));
        const [w, v] = np.linalg.eigh(a);
        const tol = BOUND[dtype] * 4 * n;
        expect(maxAbs(np.subtract(np.matmul(a, v), np.multiply(v, np.expandDims(w, -2))))).toBeLessThan(tol);
        expect(maxAbs(np.subtract(np.matmul(np.swapaxes(v, -1, -2), v), eyeLike(n, dtype)))).toBeLessThan(tol);
        const wv = globalThis.Array.from(w.dataSync());
        for (let i = 1; i < wv.length; i++) if (i % n) expect(wv[i]).toBeGreaterThanOrEqual(wv[i - 1]);
      }),
      { numRuns: 40 },
    );
  });
  it('cholesky: L Lᵀ = A with L lower triangular and a positive diagonal', () => {
    fc.assert(
      fc.property(shapes, ({ seed, n, batch, dtype }) => {
        const b = randomMatrix(seed, [...batch, n, n], dtype);
        const a = np.add(np.matmul(b, np.swapaxes(b, -1, -2)), np.multiply(eyeLike(n, dtype), n));
        const l = np.linalg.cholesky(a);
        expect(maxAbs(np.subtract(np.matmul(l, np.swapaxes(l, -1, -2)), a))).toBeLessThan(BOUND[dtype] * 8 * n);
        expect(maxAbs(np.triu(l, 1))).toBe(0);
        expect(np.all(np.greater(np.linalg.diagonal(l), 0)).item()).toBe(1);
      }),
      { numRuns: 40 },
    );
  });
  it('solve, inv and det agree: A solve(A, b) = b, A inv(A) = I, det(A) = prod(eig) for symmetric A', () => {
    fc.assert(
      fc.property(shapes, ({ seed, n, batch }) => {
        const a = np.add(randomMatrix(seed, [...batch, n, n]), np.multiply(np.eye(n, n, { dtype: 'float64' }), 3));
        const b = randomMatrix(seed + 1, [...batch, n, 2]);
        expect(maxAbs(np.subtract(np.matmul(a, np.linalg.solve(a, b)), b))).toBeLessThan(1e-12);
        expect(maxAbs(np.subtract(np.matmul(a, np.linalg.inv(a)), eyeLike(n, 'float64')))).toBeLessThan(1e-12);
        const sym = np.add(a, np.swapaxes(a, -1, -2));
        const [sign, logdet] = np.linalg.slogdet(sym);
        assertClose(np.multiply(sign, np.exp(logdet)), np.prod(np.linalg.eigvalsh(sym), { axis: -1 }), {
          rtol: 1e-10,
          atol: 1e-10,
        });
        assertClose(np.linalg.det(sym), np.multiply(sign, np.exp(logdet)), { rtol: 1e-10, atol: 1e-10 });
      }),
      { numRuns: 40 },
    );
  });
});

describe('np.linalg derivatives (float64, central differences)', () => {
  const a = f64([2.5, 0.3, -0.4, 0.1, 1.8, 0.6, -0.2, 0.5, 3.1], [3, 3]);
  const b = f64([0.7, -1.2, 0.4], [3]);
  const tol = { rtol: 1e-6, atol: 1e-8 };
  const cases: [string, (x: Array) => Array][] = [
    ['solve', (x) => np.linalg.solve(x, b)],
    ['inv', (x) => np.linalg.inv(x)],
    ['det', (x) => np.linalg.det(x)],
    ['slogdet', (x) => np.linalg.slogdet(x)[1]],
    ['pinv', (x) => np.linalg.pinv(x)],
    ['lstsq', (x) => np.linalg.lstsq(x, b)[0]],
    ['norm 2', (x) => np.linalg.norm(x, { ord: 2 })],
    ['norm nuc', (x) => np.linalg.norm(x, { ord: 'nuc' })],
    ['cond', (x) => np.linalg.cond(x)],
    ['matrixPower -2', (x) => np.linalg.matrixPower(x, -2)],
    ['eigvalsh', (x) => np.linalg.eigvalsh(x, { UPLO: 'U' })],
    ['cholesky (upper)', (x) => np.linalg.cholesky(np.matmul(x, np.swapaxes(x, 0, 1)), { upper: true })],
  ];
  for (const [name, fn] of cases)
    it(`${name}: jvp matches finite differences and vjp is its adjoint`, () => {
      expect(gradMatchesFiniteDifferences((x) => [fn(x)], [a], [0], rng(5), 1e-6, tol)).toBe(true);
    });
  it('grad of log det is inv(A)ᵀ (Jacobi formula)', () => {
    const g = grad((x: Array) => np.linalg.slogdet(x)[1])(a);
    assertClose(g, np.swapaxes(np.linalg.inv(a), 0, 1), { rtol: 1e-12, atol: 1e-12 });
  });
  it('jacrev of solve in b is inv(A)', () => {
    assertClose(jacrev((y: Array) => np.linalg.solve(a, y))(b), np.linalg.inv(a), { rtol: 1e-12, atol: 1e-12 });
  });
});

describe('np.linalg under transforms and on the compiled CPU path', () => {
  const stackA = randomMatrix(3, [4, 3, 3]);
  it('vmap over matrices equals the batched call and a loop', () => {
    const perMatrix = vmap((x: Array) => np.linalg.det(x))(stackA);
    assertClose(perMatrix, np.linalg.det(stackA), { rtol: 1e-12, atol: 1e-12 });
    for (let i = 0; i < 4; i++)
      assertClose(np.slice(perMatrix, i), np.linalg.det(np.slice(stackA, i)), { rtol: 1e-12, atol: 1e-12 });
  });
  it('jit runs the decompositions as JavaScript steps between ONNX Runtime sessions, with equal results', () => {
    const fn = (x: Array) => {
      const [u, s] = np.linalg.svd(x);
      return np.add(np.sum(np.multiply(u, u)), np.sum(s));
    };
    assertClose(jit(fn)(stackA), fn(stackA), { rtol: 1e-12, atol: 1e-12 });
    const plan = onnxBackend()!.compile(makeGraph(fn)(stackA)).plan;
    expect(plan).toMatch(/js svd \(svd has no ONNX lowering\)/);
    expect(plan).toMatch(/onnx session/);
  });
  it('grad through a Gaussian-process log-likelihood (cholesky + triangular solves) matches finite differences', () => {
    const xs = f64([0, 0.5, 1.1, 2.0], [4]);
    const y = f64([0.2, -0.1, 0.7, 0.4], [4]);
    const nll = (ell: Array) => {
      const d = np.subtract(np.expandDims(xs, 1), np.expandDims(xs, 0));
      const k = np.add(
        np.exp(np.divide(np.multiply(d, d), np.multiply(-2, np.multiply(ell, ell)))),
        np.eye(4, 4, { dtype: 'float64' }),
      );
      const l = np.linalg.cholesky(k);
      const alpha = lax.linalg.triangularSolve(l, np.expandDims(y, 1), { leftSide: true, lower: true });
      return np.add(np.multiply(0.5, np.sum(np.multiply(alpha, alpha))), np.sum(np.log(np.linalg.diagonal(l))));
    };
    expect(
      gradMatchesFiniteDifferences((e) => [nll(e)], [f64([0.8], [])], [0], rng(9), 1e-6, { rtol: 1e-6, atol: 1e-9 }),
    ).toBe(true);
    expect(grad(jit(nll))(f64([0.8], [])).item()).toBeCloseTo(grad(nll)(f64([0.8], [])).item(), 10);
  });
  it('float16 inputs compute in float64 and round once per output', () => {
    const h = np.array(
      [
        [4, 1],
        [1, 3],
      ],
      { dtype: 'float16' },
    );
    const l = np.linalg.cholesky(h);
    expect(l.dtype).toBe('float16');
    assertClose(l, np.linalg.cholesky(np.astype(h, 'float64')), { rtol: 1e-3, atol: 1e-3 });
  });
});

describe('np.linalg norms and helpers', () => {
  const a = f64([1, -2, 3, -4, 5, -6], [2, 3]);
  it('vector and matrix orders', () => {
    expect(np.linalg.norm([3, 4]).item()).toBeCloseTo(5, 6);
    expect(np.linalg.norm([3, -4], { ord: 1 }).item()).toBe(7);
    expect(np.linalg.norm([3, -4], { ord: Infinity }).item()).toBe(4);
    expect(np.linalg.norm([3, 0, -4], { ord: 0 }).item()).toBe(2);
    expect(np.linalg.norm(a, { ord: 1 }).item()).toBe(9); // max column sum
    expect(np.linalg.norm(a, { ord: Infinity }).item()).toBe(15); // max row sum
    expect(np.linalg.norm(a, { ord: -Infinity }).item()).toBe(6);
    expect(np.linalg.norm(a, { axis: 1 }).dataSync()).toEqual(Float64Array.from([Math.sqrt(14), Math.sqrt(77)]));
    expect(np.linalg.norm(a, { axis: [0, 1], keepdims: true }).shape).toEqual([1, 1]);
    assertClose(np.linalg.norm(a, { ord: 'nuc' }), np.sum(np.linalg.svdvals(a)), { rtol: 1e-12, atol: 0 });
  });
  it('multiDot picks the cheap order and equals the left-to-right product', () => {
    const x = randomMatrix(1, [10, 2]),
      y = randomMatrix(2, [2, 10]),
      z = randomMatrix(3, [10, 3]);
    assertClose(np.linalg.multiDot([x, y, z]), np.matmul(np.matmul(x, y), z), { rtol: 1e-12, atol: 1e-12 });
  });
  it('matrixRank, matrixPower, cross, trace', () => {
    expect(np.linalg.matrixRank(f64([1, 2, 2, 4], [2, 2])).item()).toBe(1);
    expect(
      np.linalg
        .matrixPower(
          np.array(
            [
              [1, 1],
              [0, 1],
            ],
            { dtype: 'int32' },
          ),
          5,
        )
        .dataSync(),
    ).toEqual(Int32Array.from([1, 5, 0, 1]));
    expect(np.linalg.cross([1, 0, 0], [0, 1, 0]).dataSync()).toEqual(Float32Array.from([0, 0, 1]));
    expect(np.linalg.trace(a, { offset: 1 }).item()).toBe(-2 - 6);
  });
});

describe('np.linalg refuses bad input clearly', () => {
  it('non-square, too few axes, mismatched right-hand sides, bad orders and unknown options', () => {
    expect(() => np.linalg.inv(np.ones([2, 3]))).toThrow(/linalg.inv: expects square matrices, got shape \(2, 3\)/);
    expect(() => np.linalg.det(np.ones([3]))).toThrow(/linalg.det: expects a matrix/);
    expect(() => np.linalg.solve(np.eye(3), np.ones([2]))).toThrow(
      /linalg.solve: a \(3, 3\) and b \(2,\) do not match/,
    );
    expect(() => np.linalg.norm(np.ones([2, 2, 2]), { ord: 2 })).toThrow(/needs an axis/);
    expect(() => np.linalg.qr(np.eye(2), { mode: 'economic' } as never)).toThrow(FluxionError);
    expect(() => np.linalg.svd(np.eye(2), { full: true } as never)).toThrow(/unknown option 'full'/);
    expect(() => np.linalg.matrixPower(np.eye(2), 0.5)).toThrow(/integer/);
    expect(() => grad((x: Array) => np.sum(np.linalg.qr(x)[0]))(np.ones([2, 3]))).toThrow(
      /qr: derivatives need a tall or square/,
    );
  });
  it('integers compute in float32; a singular matrix gives a zero determinant and non-finite solves', () => {
    expect(
      np.linalg.det(
        np.array(
          [
            [1, 2],
            [3, 4],
          ],
          { dtype: 'int32' },
        ),
      ).dtype,
    ).toBe('float32');
    expect(Math.abs(np.linalg.det(f64([1, 2, 2, 4], [2, 2])).item())).toBe(0);
    const [sign, logdet] = np.linalg.slogdet(f64([1, 2, 2, 4], [2, 2]));
    expect([Math.abs(sign.item()), logdet.item()]).toEqual([0, -Infinity]);
    expect(np.all(np.isfinite(np.linalg.solve(f64([1, 2, 2, 4], [2, 2]), f64([1, 1], [2])))).item()).toBe(0);
    expect(np.all(np.isnan(np.linalg.cholesky(f64([1, 2, 2, 1], [2, 2])))).item()).toBe(1);
  });
});

// PyTorch float64 values and VJPs (test/golden/linalg-decompositions.json, made by
// scripts/linalg-goldens.py). Vectors are compared through sign-invariant quantities.
describe('np.linalg against PyTorch float64 goldens', () => {
  type Tensor = { shape: number[]; data: number[] };
  type Case = {
    op: string;
    input: Tensor;
    outputs: Record<string, Tensor>;
    cotangents: Record<string, Tensor>;
    grad: Tensor;
  };
  const file = JSON.parse(readFileSync(new URL('./golden/linalg-decompositions.json', import.meta.url), 'utf8')) as {
    cases: Case[];
  };
  const arr = (t: Tensor) => np.array(t.data, { dtype: 'float64', shape: t.shape });
  const square = (x: Array) => np.multiply(x, x);
  // Each op's outputs as the golden file names them (vectors squared: their signs are a convention).
  const outputsOf: Record<string, (x: Array) => Record<string, Array>> = {
    solve: (x) => ({ x: np.linalg.solve(np.slice(x, 0), np.slice(x, 1)) }),
    inv: (x) => ({ inv: np.linalg.inv(x) }),
    det: (x) => ({ det: np.linalg.det(x) }),
    slogdet: (x) => ({ logabsdet: np.linalg.slogdet(x)[1] }),
    cholesky: (x) => ({ l: np.linalg.cholesky(x) }),
    qr: (x) => {
      const [q, r] = np.linalg.qr(x);
      return { q, r };
    },
    svd: (x) => {
      const [u, s, vh] = np.linalg.svd(x, { fullMatrices: false });
      return { s, u2: square(u), vh2: square(vh) };
    },
    eigh: (x) => {
      const [w, v] = np.linalg.eigh(x);
      return { w, v2: square(v) };
    },
  };
  for (const c of file.cases)
    it(`${c.op} ${JSON.stringify(c.input.shape)}: values and the VJP of Σ cotangent · output`, () => {
      const x = arr(c.input);
      const outs = outputsOf[c.op](x);
      for (const [name, t] of Object.entries(c.outputs))
        assertClose(outs[name], arr(t), { rtol: 1e-9, atol: 1e-10 }, name);
      const loss = (y: Array) => {
        const o = outputsOf[c.op](y);
        return Object.entries(c.cotangents).reduce(
          (acc: Array, [name, t]) => np.add(acc, np.sum(np.multiply(o[name], arr(t)))),
          np.array(0, { dtype: 'float64' }),
        );
      };
      assertClose(grad(loss)(x), arr(c.grad), { rtol: 1e-8, atol: 1e-9 }, 'vjp');
    });
});
