// The distributions of `random`: sample moments against the exact ones (20,000 draws: the bounds are
// several standard errors wide, and keys are fixed, so the test is deterministic), shapes, jit, errors.
import { describe, expect, it } from 'vitest';
import { type Array, jit, np, random, vmap } from '../src/index.js';
import { assertClose } from '../laws/index.js';

const N = 20_000;
const k = random.key(7);
const mean = (x: Array) => np.mean(x.astype('float32')).item();
const variance = (x: Array) => np.var(x.astype('float32')).item();

describe('random distributions: moments', () => {
  const cases: [string, () => Array, number, number][] = [
    ['exponential', () => random.exponential(k, [N]), 1, 1],
    ['gumbel', () => random.gumbel(k, [N]), 0.5772156649, Math.PI ** 2 / 6],
    ['laplace', () => random.laplace(k, [N]), 0, 2],
    ['logistic', () => random.logistic(k, [N]), 0, Math.PI ** 2 / 3],
    ['gamma(2.5)', () => random.gamma(k, 2.5, [N]), 2.5, 2.5],
    ['gamma(0.3)', () => random.gamma(k, 0.3, [N]), 0.3, 0.3],
    ['beta(2, 3)', () => random.beta(k, 2, 3, [N]), 0.4, 0.04],
    ['chisquare(4)', () => random.chisquare(k, 4, [N]), 4, 8],
    ['t(5)', () => random.t(k, 5, [N]), 0, 5 / 3],
    ['poisson(3)', () => random.poisson(k, 3, [N]), 3, 3],
    ['poisson(50)', () => random.poisson(k, 50, [N]), 50, 50],
    ['rademacher', () => random.rademacher(k, [N]), 0, 1],
  ];
  for (const [name, draw, m, v] of cases)
    it(`${name}: mean ${m.toFixed(3)}, variance ${v.toFixed(3)}`, () => {
      const x = draw();
      expect(x.shape).toEqual([N]);
      // Five standard errors of the mean; the variance within 10%.
      expect(Math.abs(mean(x) - m)).toBeLessThan(5 * Math.sqrt(v / N));
      expect(Math.abs(variance(x) - v) / v).toBeLessThan(0.1);
    });
  it('uniform and normal draw in the dtype asked: in range, moments, as many random bits as it holds, jit equal', () => {
    for (const dtype of ['float64', 'float32', 'float16', 'bfloat16'] as const) {
      const u = random.uniform(k, [N], { dtype, minval: -2, maxval: 3 });
      const z = random.normal(k, [N], { dtype });
      expect([u.dtype, z.dtype]).toEqual([dtype, dtype]);
      const values = u.astype('float64').dataSync();
      expect(Math.min(...values)).toBeGreaterThanOrEqual(-2);
      expect(Math.max(...values)).toBeLessThan(3);
      // The unit draws sit on a grid of 2^-mantissa (coarse for bfloat16: mean 0.5 - 2^-8).
      const eps = np.finfo(dtype).eps;
      expect(Math.abs(mean(u) - (0.5 - eps / 2) * 5 - -2)).toBeLessThan(5 * Math.sqrt(25 / 12 / N));
      expect(Math.abs(mean(z))).toBeLessThan(5 / Math.sqrt(N));
      expect(Math.abs(variance(z) - 1)).toBeLessThan(0.1);
      // float64 draws carry 52 random bits: finer than float32's grid of 2^-24 over this span.
      const offGrid = values.some((v) => ((v + 2) * 2 ** 24) % 1 !== 0);
      expect(offGrid).toBe(dtype === 'float64');
      const compiled = jit((key: Array) => random.uniform(key, [N], { dtype, minval: -2, maxval: 3 }))(k);
      expect(compiled.dataSync()).toEqual(u.dataSync());
    }
  });
  it('poisson is int32; parameters broadcast to the shape; the same key gives the same samples', () => {
    expect(random.poisson(k, 3, [4]).dtype).toBe('int32');
    const g = random.gamma(k, np.array([0.5, 5]), [3, 2]);
    expect(g.shape).toEqual([3, 2]);
    expect(np.all(np.greater(g, 0)).item()).toBe(1);
    expect(random.gamma(k, 2, [5]).dataSync()).toEqual(random.gamma(k, 2, [5]).dataSync());
    expect(random.gamma(k, 2, [5]).dataSync()).not.toEqual(random.gamma(random.key(8), 2, [5]).dataSync());
  });
  it('dirichlet rows sum to one; multivariateNormal has the given mean and covariance', () => {
    const d = random.dirichlet(k, [1, 2, 3], [N]);
    expect(d.shape).toEqual([N, 3]);
    expect(np.max(np.abs(np.subtract(np.sum(d, { axis: -1 }), 1))).item()).toBeLessThan(1e-5);
    expect(np.mean(d, { axis: 0 }).dataSync()[2]).toBeCloseTo(0.5, 1);
    const mv = random.multivariateNormal(
      k,
      [1, -1],
      [
        [2, 0.5],
        [0.5, 1],
      ],
      [N],
    );
    const c = np.cov(mv, { rowvar: false }).dataSync();
    expect([...np.mean(mv, { axis: 0 }).dataSync()].map((v) => Math.round(v * 10) / 10)).toEqual([1, -1]);
    expect([...c].map((v) => Math.round(v * 10) / 10)).toEqual([2, 0.5, 0.5, 1]);
  });
  it('choice: without replacement distinct, with p weighted, from an array its rows', () => {
    const pick = random.choice(k, 10, { shape: [10], replace: false });
    expect([...pick.dataSync()].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const weighted = random.choice(k, 3, { shape: [N], p: [0.1, 0.1, 0.8] });
    expect(mean(np.equal(weighted, 2))).toBeCloseTo(0.8, 1);
    expect(
      random.choice(
        k,
        np.array([
          [1, 2],
          [3, 4],
          [5, 6],
        ]),
        { shape: [4] },
      ).shape,
    ).toEqual([4, 2]);
  });
  it('samplers run under jit and vmap over keys, equal to eager', () => {
    const f = (key: Array) => random.gamma(key, 1.5, [3]);
    assertClose(jit(f)(k), f(k), { rtol: 1e-5, atol: 1e-6 }); // ONNX Runtime rounds pow/log its own way
    const keys = random.split(k, 4);
    const batched = vmap(f)(keys);
    expect(batched.shape).toEqual([4, 3]);
    assertClose(np.slice(batched, 2), f(np.slice(keys, 2)), { rtol: 1e-5, atol: 1e-6 });
  });
  it('bad parameters are clear errors', () => {
    expect(() => random.choice(k, 3, { shape: [5], replace: false })).toThrow(/cannot take 5 samples from 3/);
    expect(() => random.choice(k, 3, { p: [0.5, 0.5] })).toThrow(/p must have shape \(3,\)/);
    expect(() => random.gamma(k, np.ones([3]), [2])).toThrow(/broadcast/);
    expect(() => random.multivariateNormal(k, [0, 0], [[1]])).toThrow(/do not match/);
    expect(() => random.exponential(k, [2], { dtype: 'int32' })).toThrow(/float type/);
  });
});
