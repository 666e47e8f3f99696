// Lion, NAdam, RAdam and LAMB against plain-JS loops written from optax's definitions; schedules
// against their formulas; freezing, masking and gradient accumulation by their effect.
import { describe, expect, it } from 'vitest';
import { type NDArray, jit, np, optim, random, tree } from '../src/index.js';
import { assertClose } from '../laws/index.js';

/** Runs `opt` for the gradient sequence on float64 params; returns the params after each step. */
function trajectory(opt: optim.GradientTransformation, p0: number[], grads: number[][]): number[][] {
  let p = { w: np.array(p0, { dtype: 'float64' }) };
  let s = opt.init(p);
  const out: number[][] = [];
  for (const g of grads) {
    const r = opt.update({ w: np.array(g, { dtype: 'float64' }) }, s, p);
    p = optim.applyUpdates(p, r.updates);
    s = r.state;
    out.push(Array.from(p.w.dataSync()));
  }
  return out;
}

const p0 = [0.5, -1.5, 2, 0];
const grads = [
  [0.1, -0.2, 0.3, 0],
  [0.2, 0.1, -0.4, 0.05],
  [-0.3, 0.3, 0.2, -0.1],
  [0.05, -0.05, 0.1, 0.2],
  [0.4, 0.2, -0.1, 0.3],
];

/** The same optimizer step by step on numbers, elementwise; `step(p, g, t)` with t from 1. */
function reference(step: (p: number[], g: number[], t: number) => number[], gs = grads): number[][] {
  let p = [...p0];
  return gs.map((g, i) => (p = step(p, g, i + 1)));
}

describe('optim.flatten', () => {
  it('gives the same parameters as the optimizer leaf by leaf, over mixed dtypes, with one flat state per dtype for small leaves', () => {
    const big = random.normal(random.key(3), [256, 256]); // 64k elements: stays a leaf of its own
    let [a, b] = [
      {
        w: np.array([
          [0.5, -1],
          [2, 0.25],
        ]),
        b: np.array([0.1, -0.3]),
        h: np.array([1, -2, 3], { dtype: 'float64' }),
        big,
      },
      {
        w: np.array([
          [0.5, -1],
          [2, 0.25],
        ]),
        b: np.array([0.1, -0.3]),
        h: np.array([1, -2, 3], { dtype: 'float64' }),
        big,
      },
    ];
    const [plain, flat] = [optim.adam(0.1), optim.flatten(optim.adam(0.1))];
    let [sa, sb] = [plain.init(a), flat.init(b)];
    const moments = (sb[0] as { mu: { small: Record<string, NDArray>; large: NDArray[] } }).mu;
    expect(Object.fromEntries(Object.entries(moments.small).map(([d, v]) => [d, v.shape]))).toEqual({
      float32: [6],
      float64: [3],
    });
    expect(moments.large.map((v) => v.shape)).toEqual([[256, 256]]);
    for (let k = 0; k < 3; k++) {
      const g = tree.map((x: NDArray) => np.sin(np.add(x, k)), a);
      const ra = plain.update(g, sa, a);
      const rb = jit((gg: typeof g, s: optim.ChainState, p: typeof b) => flat.update(gg, s, p))(g, sb, b);
      [a, sa] = [optim.applyUpdates(a, ra.updates), ra.state];
      [b, sb] = [optim.applyUpdates(b, rb.updates), rb.state];
    }
    for (const k of ['w', 'b', 'h', 'big'] as const) {
      expect(b[k].dtype).toBe(a[k].dtype);
      assertClose(b[k], a[k], { rtol: 1e-6, atol: 1e-7 });
    }
  });
});

describe('optimizers against their definitions', () => {
  it("adafactor: factored row/column moments for a matrix, full ones for a vector, as optax's definition", () => {
    const [lr, wd, mom] = [0.05, 0.1, 0.9];
    const mat0 = [
      [0.5, -1, 2, 0.3],
      [1.5, 0.2, -0.7, 1],
      [-0.4, 0.9, 0.1, -2],
    ];
    const gradsAt = (k: number) => ({
      m: mat0.map((r, i) => r.map((_, j) => Math.sin(1 + k * 7 + i * 3 + j))),
      v: p0.map((_, i) => Math.cos(k * 5 + i)),
    });
    const rms = (xs: number[]) => Math.sqrt(xs.reduce((a, x) => a + x * x, 0) / xs.length);
    const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
    // optax: factored rms -> clip_by_block_rms(1) -> * lr -> * max(rms(p), 1e-3) -> ema (momentum) -> + wd * p -> * -1.
    let [pm, pv] = [mat0.map((r) => [...r]), [...p0]];
    let [row, col, v] = [[0, 0, 0], [0, 0, 0, 0], p0.map(() => 0)];
    let [em, ev] = [mat0.map((r) => r.map(() => 0)), p0.map(() => 0)];
    const finish = (u: number[], p: number[], e: number[]) => {
      const c = Math.max(1, rms(u));
      const scaled = u.map((x) => (x / c) * lr * Math.max(rms(p), 1e-3));
      const m = e.map((ei, i) => mom * ei + (1 - mom) * scaled[i]);
      return { m, p: p.map((x, i) => x - (m[i] + wd * x)) };
    };
    const want: number[][] = [];
    for (let k = 0; k < 4; k++) {
      const beta = 1 - (k + 1) ** -0.8;
      const g = gradsAt(k);
      const sq = g.m.map((r) => r.map((x) => x * x + 1e-30));
      row = row.map((r, i) => beta * r + (1 - beta) * mean(sq[i]));
      col = col.map((c, j) => beta * c + (1 - beta) * mean(sq.map((r) => r[j])));
      const rf = row.map((r) => (r / mean(row)) ** -0.5);
      const um = g.m.map((r, i) => r.map((x, j) => x * rf[i] * col[j] ** -0.5)).flat();
      const fm = finish(um, pm.flat(), em.flat());
      em = mat0.map((r, i) => r.map((_, j) => fm.m[i * 4 + j]));
      pm = mat0.map((r, i) => r.map((_, j) => fm.p[i * 4 + j]));
      v = v.map((vi, i) => beta * vi + (1 - beta) * (g.v[i] ** 2 + 1e-30));
      const fv = finish(
        g.v.map((x, i) => x / Math.sqrt(v[i])),
        pv,
        ev,
      );
      [ev, pv] = [fv.m, fv.p];
      want.push([...pm.flat(), ...pv]);
    }
    const opt = optim.adafactor(lr, { minDimSizeToFactor: 3, momentum: mom, weightDecayRate: wd });
    let params = { m: np.array(mat0, { dtype: 'float64' }), v: np.array(p0, { dtype: 'float64' }) };
    let state = opt.init(params);
    const moments = state[0] as optim.FactoredRmsState;
    expect([moments.vRow.m.shape, moments.vCol.m.shape, moments.v.m.shape, moments.v.v.shape]).toEqual([
      [3],
      [4],
      [1],
      [4],
    ]);
    for (let k = 0; k < 4; k++) {
      const g = gradsAt(k);
      const r = opt.update(
        { m: np.array(g.m, { dtype: 'float64' }), v: np.array(g.v, { dtype: 'float64' }) },
        state,
        params,
      );
      params = optim.applyUpdates(params, r.updates);
      state = r.state;
      // The decay rate is computed in float32, as optax computes it (a float32 step count).
      assertClose(
        np.concatenate([np.ravel(params.m), params.v]),
        { data: want[k], shape: [16] },
        { rtol: 1e-8, atol: 1e-10 },
      );
    }
    // A large matrix keeps O(rows + columns) of state: [256, 130] -> 130 + 256 numbers.
    const big = optim.adafactor().init({ w: np.zeros([256, 130]) })[0] as optim.FactoredRmsState;
    expect([big.vRow.w.shape, big.vCol.w.shape]).toEqual([[130], [256]]);
  });

  it('lion: sign of the interpolated momentum, decoupled decay', () => {
    const [lr, b1, b2, wd] = [0.01, 0.9, 0.99, 0.1];
    let m = p0.map(() => 0);
    const want = reference((p, g) => {
      const u = p.map((x, i) => Math.sign(b1 * m[i] + (1 - b1) * g[i]) + wd * x);
      m = m.map((mi, i) => b2 * mi + (1 - b2) * g[i]);
      return p.map((x, i) => x - lr * u[i]);
    });
    const got = trajectory(optim.lion(lr, { b1, b2, weightDecay: wd }), p0, grads);
    got.forEach((row, k) =>
      assertClose(np.array(row, { dtype: 'float64' }), { data: want[k], shape: [4] }, { rtol: 1e-12, atol: 1e-14 }),
    );
  });

  const adamMoments = (b1: number, b2: number) => {
    let m = p0.map(() => 0),
      v = p0.map(() => 0);
    return (g: number[]) => {
      m = m.map((mi, i) => b1 * mi + (1 - b1) * g[i]);
      v = v.map((vi, i) => b2 * vi + (1 - b2) * g[i] ** 2);
      return [m, v];
    };
  };

  it('nadam: the next momentum with the gradient corrected now', () => {
    const [lr, b1, b2, eps] = [0.05, 0.9, 0.999, 1e-8];
    const moments = adamMoments(b1, b2);
    const want = reference((p, g, t) => {
      const [m, v] = moments(g);
      return p.map((x, i) => {
        const mHat = (b1 * m[i]) / (1 - b1 ** (t + 1)) + ((1 - b1) * g[i]) / (1 - b1 ** t);
        return x - (lr * mHat) / (Math.sqrt(v[i] / (1 - b2 ** t)) + eps);
      });
    });
    const got = trajectory(optim.nadam(lr), p0, grads);
    got.forEach((row, k) =>
      assertClose(np.array(row, { dtype: 'float64' }), { data: want[k], shape: [4] }, { rtol: 1e-10, atol: 1e-12 }),
    );
  });

  it('radam: momentum until the variance is tractable, then the rectified Adam step', () => {
    const [lr, b1, b2, eps] = [0.05, 0.9, 0.8, 1e-8]; // with b2 = 0.8, rho_t passes 5 at the eighth step
    const ten = [...grads, ...grads];
    const rhoInf = 2 / (1 - b2) - 1;
    const moments = adamMoments(b1, b2);
    let tractableSteps = 0;
    const want = reference((p, g, t) => {
      const [m, v] = moments(g);
      const rho = rhoInf - (2 * t * b2 ** t) / (1 - b2 ** t);
      if (rho >= 5) tractableSteps++;
      return p.map((x, i) => {
        const mHat = m[i] / (1 - b1 ** t);
        if (rho < 5) return x - lr * mHat;
        const r = Math.sqrt(((rho - 4) * (rho - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rho));
        return x - (lr * r * mHat) / (Math.sqrt(v[i] / (1 - b2 ** t)) + eps);
      });
    }, ten);
    expect(tractableSteps).toBeGreaterThan(0);
    expect(tractableSteps).toBeLessThan(10);
    const got = trajectory(optim.radam(lr, { b2 }), p0, ten);
    got.forEach((row, k) =>
      assertClose(np.array(row, { dtype: 'float64' }), { data: want[k], shape: [4] }, { rtol: 1e-10, atol: 1e-12 }),
    );
  });

  it('lamb: Adam plus decay, scaled by ||p|| / ||u||', () => {
    const [lr, b1, b2, eps, wd] = [0.05, 0.9, 0.999, 1e-6, 0.01];
    const moments = adamMoments(b1, b2);
    const norm = (xs: number[]) => Math.sqrt(xs.reduce((s, x) => s + x * x, 0));
    const want = reference((p, g, t) => {
      const [m, v] = moments(g);
      const u = p.map((x, i) => m[i] / (1 - b1 ** t) / (Math.sqrt(v[i] / (1 - b2 ** t)) + eps) + wd * x);
      const ratio = norm(p) / norm(u);
      return p.map((x, i) => x - lr * ratio * u[i]);
    });
    const got = trajectory(optim.lamb(lr, { weightDecay: wd }), p0, grads);
    got.forEach((row, k) =>
      assertClose(np.array(row, { dtype: 'float64' }), { data: want[k], shape: [4] }, { rtol: 1e-10, atol: 1e-12 }),
    );
  });

  it('globalNorm is the L2 norm of every leaf together', () => {
    expect(optim.globalNorm({ a: np.array([3]), b: [np.array([[4]])] }).item()).toBeCloseTo(5, 6);
  });
});

describe('schedules', () => {
  const at = (s: optim.Schedule, c: number) => s(np.array(c, { dtype: 'int32' })).item();
  it('linear and polynomial', () => {
    const lin = optim.linear(1, 0.1, 10, 5);
    expect([0, 5, 10, 15, 20].map((c) => at(lin, c))).toEqual([1, 1, 0.55, 0.1, 0.1].map((v) => expect.closeTo(v, 6)));
    const poly = optim.polynomial(2, 0, 2, 4);
    expect(at(poly, 1)).toBeCloseTo(2 * 0.75 ** 2, 6);
  });
  it('joinSchedules counts each schedule from its boundary', () => {
    const s = optim.joinSchedules([optim.linear(0, 1, 10), optim.constant(0.5), optim.linear(0.5, 0, 4)], [10, 20]);
    expect([0, 5, 10, 19, 20, 22, 30].map((c) => at(s, c))).toEqual(
      [0, 0.5, 0.5, 0.5, 0.5, 0.25, 0].map((v) => expect.closeTo(v, 6)),
    );
    expect(() => optim.joinSchedules([optim.constant(1)], [3])).toThrow(/1 schedules need 0 boundaries, got 1/);
  });
  it('oneCycle rises to the peak at pctStart and falls to peak / div / finalDiv', () => {
    const s = optim.oneCycle(100, 1, { pctStart: 0.3 });
    expect(at(s, 0)).toBeCloseTo(1 / 25, 6);
    expect(at(s, 15)).toBeCloseTo(1 / 25 + (1 - 1 / 25) / 2, 6);
    expect(at(s, 30)).toBeCloseTo(1, 6);
    expect(at(s, 100)).toBeCloseTo(1 / 25 / 1e4, 9);
  });
});

describe('freezing, masking and accumulation', () => {
  const params = { backbone: { w: np.array([1, 2]) }, fc: { weight: np.array([3]), bias: np.array([4]) } };
  const g = { backbone: { w: np.array([1, 1]) }, fc: { weight: np.array([1]), bias: np.array([1]) } };

  it('multiTransform trains one part and freezes the rest, also under jit', () => {
    const labels = { ...tree.map(() => 'freeze', params), fc: { weight: 'train', bias: 'train' } };
    const opt = optim.multiTransform({ train: optim.sgd(0.5), freeze: optim.setToZero() }, labels);
    const step = jit((p: typeof params, s: unknown) => {
      const r = opt.update(g, s as never, p);
      return { p: optim.applyUpdates(p, r.updates), s: r.state };
    });
    const { p } = step(params, opt.init(params));
    expect(p.backbone.w.toArray()).toEqual([1, 2]);
    expect(p.fc.weight.toArray()).toEqual([2.5]);
    const bad = optim.multiTransform({ train: optim.sgd(0.5) }, labels);
    expect(() => bad.init(params)).toThrow(/multiTransform: label 'freeze' has no transformation \(have train\)/);
    expect(() => optim.multiTransform({ train: optim.sgd(1) }, { a: 'train' }).init(params)).toThrow(
      /1 labels for 3 parameter leaves/,
    );
  });

  it('masked applies the inner transformation where the mask is true and passes the rest through', () => {
    const opt = optim.masked(optim.scale(-0.1), (p: typeof params) => ({
      ...tree.map(() => false, p),
      fc: { weight: true, bias: true },
    }));
    const r = opt.update(g, opt.init(params), params);
    expect(r.updates.backbone.w.toArray()).toEqual([1, 1]);
    expect(r.updates.fc.weight.dataSync()[0]).toBeCloseTo(-0.1, 6);
  });

  it('multiSteps applies the inner optimizer to the mean of every k gradients, and zeros between', () => {
    const p = { w: np.array([1, 2], { dtype: 'float64' }) };
    const gs = [
      [1, 0],
      [0, 2],
      [2, 4],
    ].map((v) => ({ w: np.array(v, { dtype: 'float64' }) }));
    const opt = optim.multiSteps(optim.adam(0.1), 3);
    let s = opt.init(p);
    const step = jit((st: typeof s, g: { w: NDArray }) => opt.update(g, st, p));
    const updates: number[][] = [];
    for (const g of gs) {
      const r = step(s, g);
      s = r.state;
      updates.push(Array.from(r.updates.w.dataSync()));
    }
    expect(updates[0]).toEqual([0, 0]);
    expect(updates[1]).toEqual([0, 0]);
    const adam = optim.adam(0.1);
    const once = adam.update({ w: np.array([1, 2], { dtype: 'float64' }) }, adam.init(p), p).updates.w;
    assertClose(np.array(updates[2], { dtype: 'float64' }), once, { rtol: 1e-12, atol: 1e-14 });
    expect(s.miniStep.item()).toBe(0);
    expect(() => optim.multiSteps(optim.adam(), 0)).toThrow(/everyK must be a positive integer/);
  });
});
