// Transformer building blocks against plain-JS references written from their papers' and PyTorch's
// definitions: activations, one-hot, RMS/group/instance norms, attention and multi-head attention.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type NDArray, ShapeDtype, ShapeError, grad, jit, lax, nn, np, random, vmap } from '../src/index.js';
import { assertClose, gradMatchesFiniteDifferences, rng } from '../laws/index.js';

const F = nn.functional;
const key = random.key(0);
const values = (x: NDArray) => Array.from(x.dataSync(), Number);
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
const softplus = (v: number) => Math.log1p(Math.exp(v));
const relu6 = (v: number) => Math.min(Math.max(v, 0), 6);

describe('activations', () => {
  const xs = [-7, -3, -1.5, -0.5, 0, 0.25, 1, 2.5, 3, 6.5];
  const x = np.array(xs, { dtype: 'float64' });
  const cases: [string, (x: NDArray) => NDArray, (v: number) => number][] = [
    ['silu', F.silu, (v) => v * sigmoid(v)],
    ['mish', F.mish, (v) => v * Math.tanh(softplus(v))],
    ['relu6', F.relu6, relu6],
    ['hardSigmoid', F.hardSigmoid, (v) => relu6(v + 3) / 6],
    ['hardSwish', F.hardSwish, (v) => (v * relu6(v + 3)) / 6],
    ['selu', F.selu, (v) => 1.0507009873554805 * (v > 0 ? v : 1.6732632423543772 * Math.expm1(v))],
    ['celu(0.5)', (a) => F.celu(a, 0.5), (v) => (v > 0 ? v : 0.5 * Math.expm1(v / 0.5))],
    ['logSigmoid', F.logSigmoid, (v) => Math.log(sigmoid(v))],
    ['softsign', F.softsign, (v) => v / (1 + Math.abs(v))],
  ];
  for (const [name, f, ref] of cases)
    it(`${name} matches its definition, and its gradient finite differences`, () => {
      assertClose(f(x), { data: xs.map(ref), shape: [xs.length] }, { rtol: 1e-12, atol: 1e-14 }, name);
      // Away from the kinks of relu6 and the hard functions.
      const smooth = np.array([-2.2, -0.7, 0.3, 1.9], { dtype: 'float64' });
      expect(gradMatchesFiniteDifferences((a) => [f(a)], [smooth], [0], rng(4), 1e-6, { rtol: 1e-6, atol: 1e-8 })).toBe(
        true,
      );
    });

  it('glu halves an axis and gates the first half with the second', () => {
    const a = np.array([[1, 2, 0.5, -1]]);
    assertClose(F.glu(a), { data: [1 * sigmoid(0.5), 2 * sigmoid(-1)], shape: [1, 2] });
    expect(() => F.glu(np.ones([2, 3]))).toThrow(/glu: axis -1 of \(2, 3\) has odd length 3/);
  });

  it('every activation is a layer value, and called with arguments a configured layer', () => {
    const model = nn.serial(nn.dense(3), nn.gelu, nn.dense(4), nn.silu, nn.leakyRelu(0.2), nn.softmax(-1));
    const { params } = model.init(key, [2, 5]);
    const y = model.apply(params, {}, random.normal(key, [2, 5])).y as NDArray;
    expect(y.shape).toEqual([2, 4]);
    assertClose(np.sum(y, { axis: -1 }), { data: [1, 1], shape: [2] }, { rtol: 1e-6, atol: 1e-6 });
    const z = np.array([-1, 2]);
    expect(values(nn.gelu({ approximate: 'tanh' }).apply({}, {}, z).y)).toEqual(
      values(F.gelu(z, { approximate: 'tanh' })),
    );
    expect(values(nn.leakyRelu(0.2).apply({}, {}, z).y)).toEqual(values(F.leakyRelu(z, 0.2)));
    expect(nn.relu.name).toBe('relu');
  });

  it('oneHot', () => {
    expect(nn.oneHot(np.array([2, 0, 5], { dtype: 'int32' }), 3).toArray()).toEqual([
      [0, 0, 1],
      [1, 0, 0],
      [0, 0, 0],
    ]);
    expect(nn.oneHot(np.array([1], { dtype: 'uint8' }), 2, { dtype: 'bfloat16' }).dtype).toBe('bfloat16');
    expect(() => nn.oneHot(np.array([1.5]), 2)).toThrow(/oneHot: labels must be integers, got float32/);
  });
});

describe('normalisation', () => {
  const x = random.normal(key, [2, 6, 3]).astype('float64');
  const data = values(x);
  it('rmsNorm divides by the root mean square of the last axis and scales', () => {
    const w = np.array([0.5, 1, 2], { dtype: 'float64' });
    const want = data.map((v, i) => {
      const row = data.slice(i - (i % 3), i - (i % 3) + 3);
      const rms = Math.sqrt(row.reduce((s, u) => s + u * u, 0) / 3 + 1e-6);
      return (v / rms) * [0.5, 1, 2][i % 3];
    });
    assertClose(F.rmsNorm(x, 3, w, { eps: 1e-6 }), { data: want, shape: [...x.shape] }, { rtol: 1e-12, atol: 1e-14 });
    const layer = nn.rmsNorm();
    expect(layer.init(key, [2, 6, 3]).params.weight.shape).toEqual([3]);
  });
  it('groupNorm normalises each group of channels over channels and positions; instanceNorm each channel', () => {
    const want = (groups: number) => {
      const out = new Array<number>(data.length);
      const per = (6 / groups) * 3;
      for (let n = 0; n < 2; n++)
        for (let g = 0; g < groups; g++) {
          const at = n * 18 + g * per;
          const chunk = data.slice(at, at + per);
          const mean = chunk.reduce((s, u) => s + u, 0) / per;
          const variance = chunk.reduce((s, u) => s + (u - mean) ** 2, 0) / per;
          chunk.forEach((u, i) => (out[at + i] = (u - mean) / Math.sqrt(variance + 1e-5)));
        }
      return out;
    };
    assertClose(F.groupNorm(x, 2), { data: want(2), shape: [...x.shape] }, { rtol: 1e-10, atol: 1e-12 });
    assertClose(F.instanceNorm(x), { data: want(6), shape: [...x.shape] }, { rtol: 1e-10, atol: 1e-12 });
    expect(() => F.groupNorm(x, 4)).toThrow(ShapeError);
    expect(nn.groupNorm(3).init(key, [2, 6, 3]).params.weight!.shape).toEqual([6]);
    expect(nn.instanceNorm().init(key, [2, 6, 3]).params).toEqual({});
  });
});

/** Attention by loops: [B, T, N, H] queries, [B, S, K, H] keys and values, grouped heads, a keep mask. */
function attentionReference(
  q: NDArray,
  k: NDArray,
  v: NDArray,
  keep: (b: number, n: number, t: number, s: number) => boolean,
  scale: number,
): { data: number[]; shape: number[] } {
  const [B, T, N, H] = q.shape,
    [, S, K] = k.shape;
  const Q = values(q),
    Kd = values(k),
    V = values(v);
  const out = new Array<number>(B * T * N * H).fill(0);
  for (let b = 0; b < B; b++)
    for (let n = 0; n < N; n++) {
      const kn = Math.floor(n / (N / K));
      for (let t = 0; t < T; t++) {
        const logits = Array.from({ length: S }, (_, s) => {
          let dot = 0;
          for (let h = 0; h < H; h++) dot += Q[((b * T + t) * N + n) * H + h] * Kd[((b * S + s) * K + kn) * H + h];
          return keep(b, n, t, s) ? dot * scale : -Infinity;
        });
        const m = Math.max(...logits);
        const e = logits.map((l) => (l === -Infinity ? 0 : Math.exp(l - m)));
        const total = e.reduce((a, c) => a + c, 0);
        for (let h = 0; h < H; h++) {
          let acc = 0;
          for (let s = 0; s < S; s++) acc += (total > 0 ? e[s] / total : 0) * V[((b * S + s) * K + kn) * H + h];
          out[((b * T + t) * N + n) * H + h] = acc;
        }
      }
    }
  return { data: out, shape: [B, T, N, H] };
}

describe('dotProductAttention', () => {
  const [kq, kk, kv] = [1, 2, 3].map((i) => random.foldIn(key, i));
  const q = random.normal(kq, [2, 4, 4, 3]).astype('float64'),
    k = random.normal(kk, [2, 5, 2, 3]).astype('float64'),
    v = random.normal(kv, [2, 5, 2, 3]).astype('float64');
  const tol = { rtol: 1e-10, atol: 1e-12 };

  it('grouped-query attention with a mask and a causal mask, as loops compute it', () => {
    assertClose(
      F.dotProductAttention(q, k, v),
      attentionReference(q, k, v, () => true, 1 / Math.sqrt(3)),
      tol,
    );
    const mask = np
      .array([
        [true, true, false, true, false],
        [false, false, false, false, false],
      ])
      .reshape(2, 1, 1, 5);
    const keep = (b: number, _n: number, _t: number, s: number) => (b === 0 ? [1, 1, 0, 1, 0][s] === 1 : false);
    assertClose(F.dotProductAttention(q, k, v, { mask, scale: 0.7 }), attentionReference(q, k, v, keep, 0.7), tol);
    const causal = (_b: number, _n: number, t: number, s: number) => s <= t;
    assertClose(
      F.dotProductAttention(q, k, v, { isCausal: true }),
      attentionReference(q, k, v, causal, 1 / Math.sqrt(3)),
      tol,
    );
  });

  it('works unbatched and under jit, vmap and grad (finite differences)', () => {
    const one = (a: NDArray) => np.take(a, np.array([0], { dtype: 'int32' }), { axis: 0 }).reshape(a.shape.slice(1));
    assertClose(F.dotProductAttention(one(q), one(k), one(v)), one(F.dotProductAttention(q, k, v)), tol);
    const f = (a: NDArray, b: NDArray, c: NDArray) => F.dotProductAttention(a, b, c, { isCausal: true });
    assertClose(jit(f)(q, k, v), f(q, k, v), tol);
    assertClose(vmap(f)(q, k, v), f(q, k, v), tol);
    const loss = (a: NDArray, b: NDArray, c: NDArray) => [np.sum(np.square(f(a, b, c)))];
    expect(gradMatchesFiniteDifferences(loss, [q, k, v], [0, 1, 2], rng(5), 1e-6, { rtol: 1e-6, atol: 1e-8 })).toBe(
      true,
    );
    expect(grad((a: NDArray) => np.sum(f(a, k, v)))(q).shape).toEqual(q.shape);
  });

  it('refuses mismatched shapes and non-bool masks, naming them', () => {
    expect(() => F.dotProductAttention(q, k, np.ones([2, 5, 2, 4]))).toThrow(/expected \[B, T, N, H\] query and equal/);
    expect(() => F.dotProductAttention(np.ones([2, 4, 3, 3]), k, v)).toThrow(/query heads be a multiple of key heads/);
    expect(() => F.dotProductAttention(q, k, v, { mask: np.ones([2, 1, 1, 5]) })).toThrow(/mask must be bool/);
  });
});

describe('multiHeadAttention', () => {
  it("has PyTorch's parameter names and shapes", () => {
    const { params } = nn.multiHeadAttention(8, 2).init(key, [3, 5, 8]);
    expect(params.in_proj_weight.shape).toEqual([24, 8]);
    expect(params.in_proj_bias!.shape).toEqual([24]);
    expect(params.out_proj.weight.shape).toEqual([8, 8]);
    expect(params.out_proj.bias!.toArray()).toEqual(new Array(8).fill(0));
    expect(() => nn.multiHeadAttention(8, 3)).toThrow(/embedDim 8 must be divisible by numHeads 3/);
  });

  it('computes PyTorch multi-head attention (projections, heads, key padding, out projection)', () => {
    const e = 4,
      heads = 2;
    const layer = nn.multiHeadAttention(e, heads);
    const { params } = layer.init(key, [2, 3, e]);
    const x = random.normal(random.foldIn(key, 9), [2, 3, e]).astype('float64');
    const p = {
      in_proj_weight: params.in_proj_weight.astype('float64'),
      in_proj_bias: random.normal(random.foldIn(key, 10), [3 * e]).astype('float64'),
      out_proj: { weight: params.out_proj.weight.astype('float64'), bias: np.ones([e], { dtype: 'float64' }) },
    };
    const pad = np.array([
      [false, false, true],
      [false, false, false],
    ]);
    const y = layer.apply(p, {}, { query: x, keyPaddingMask: pad }).y as NDArray;
    // The reference: the same computation written with loops, per PyTorch's documentation.
    const X = values(x),
      W = values(p.in_proj_weight),
      Bi = values(p.in_proj_bias),
      Wo = values(p.out_proj.weight);
    const proj = (n: number, l: number, which: number, j: number) => {
      let acc = Bi[which * e + j];
      for (let i = 0; i < e; i++) acc += X[(n * 3 + l) * e + i] * W[(which * e + j) * e + i];
      return acc;
    };
    const want: number[] = [];
    const hd = e / heads;
    for (let n = 0; n < 2; n++)
      for (let l = 0; l < 3; l++) {
        const concat: number[] = [];
        for (let h = 0; h < heads; h++) {
          const logits = [0, 1, 2].map((s) => {
            if (n === 0 && s === 2) return -Infinity;
            let d = 0;
            for (let j = 0; j < hd; j++) d += proj(n, l, 0, h * hd + j) * proj(n, s, 1, h * hd + j);
            return d / Math.sqrt(hd);
          });
          const m = Math.max(...logits);
          const ex = logits.map((z) => Math.exp(z - m));
          const total = ex.reduce((a, b) => a + b, 0);
          for (let j = 0; j < hd; j++)
            concat.push([0, 1, 2].reduce((acc, s) => acc + (ex[s] / total) * proj(n, s, 2, h * hd + j), 0));
        }
        for (let o = 0; o < e; o++) want.push(1 + concat.reduce((acc, c, i) => acc + c * Wo[o * e + i], 0));
      }
    assertClose(y, { data: want, shape: [2, 3, e] }, { rtol: 1e-10, atol: 1e-12 });
    // Sequence-first input, as PyTorch's default.
    const seqFirst = nn.multiHeadAttention(e, heads, { batchFirst: false });
    const z = seqFirst.apply(p, {}, { query: np.swapaxes(x, 0, 1), keyPaddingMask: pad }).y as NDArray;
    assertClose(np.swapaxes(z, 0, 1), y, { rtol: 1e-12, atol: 1e-12 });
  });
});

describe('masks from np.tri, np.tril, np.triu', () => {
  it('give the triangles', () => {
    expect(np.tri(3, 4, { k: 1, dtype: 'int32' }).toArray()).toEqual([
      [1, 1, 0, 0],
      [1, 1, 1, 0],
      [1, 1, 1, 1],
    ]);
    const m = np.arange(9).reshape(3, 3);
    expect(np.tril(m).toArray()).toEqual([
      [0, 0, 0],
      [3, 4, 0],
      [6, 7, 8],
    ]);
    expect(np.triu(m, 1).toArray()).toEqual([
      [0, 1, 2],
      [0, 0, 5],
      [0, 0, 0],
    ]);
    expect(() => np.tril(np.ones([3]))).toThrow(/tril: expected at least 2 dimensions/);
  });
});

describe('lax.dynamicSlice, lax.dynamicUpdateSlice, lax.topK', () => {
  const x = np.arange(24).reshape(2, 3, 4);
  it('slice and update at traced positions, clamped to fit, under jit, vmap and grad', () => {
    const f = (i: NDArray) => lax.dynamicSlice(x, [0, i, 1], [2, 2, 2]);
    const want = [
      [
        [5, 6],
        [9, 10],
      ],
      [
        [17, 18],
        [21, 22],
      ],
    ];
    expect(f(np.array(1, { dtype: 'int32' })).toArray()).toEqual(want);
    expect(jit(f)(np.array(1, { dtype: 'int32' })).toArray()).toEqual(want);
    expect(jit(f)(np.array(7, { dtype: 'int32' })).toArray()).toEqual(want); // clamped to the last start that fits
    const rows = vmap((i: NDArray) => lax.dynamicSlice(np.arange(10), [i], [3]))(
      np.array([0, 4, 9], { dtype: 'int32' }),
    );
    expect(rows.toArray()).toEqual([
      [0, 1, 2],
      [4, 5, 6],
      [7, 8, 9],
    ]);
    const u = np.full([1, 2, 2], -1, { dtype: 'int32' });
    const g = jit((i: NDArray) => lax.dynamicUpdateSlice(x, u, [1, i, 2]));
    const y = g(np.array(1, { dtype: 'int32' })).toArray() as number[][][];
    expect(y[1][1]).toEqual([16, 17, -1, -1]);
    expect(y[1][2]).toEqual([20, 21, -1, -1]);
    expect(y[0]).toEqual((x.toArray() as number[][][])[0]);
    const dx = grad((a: NDArray) => np.sum(np.square(lax.dynamicSlice(a, [1], [2]))))(np.array([1, 2, 3, 4]));
    expect(dx.toArray()).toEqual([0, 4, 6, 0]);
    expect(() => lax.dynamicSlice(x, [0, 0], [1, 1])).toThrow(/needs 3 start indices/);
    expect(() => lax.dynamicSlice(x, [0, np.array(0.5), 0], [1, 1, 1])).toThrow(
      /start indices must be integer scalars/,
    );
  });
  it('topK gives the largest values in order and their indices, stable for ties', () => {
    const [values, indices] = lax.topK(
      np.array([
        [3, 1, 4, 1, 5],
        [2, 7, 1, 8, 2],
      ]),
      3,
    );
    expect(values.toArray()).toEqual([
      [5, 4, 3],
      [8, 7, 2],
    ]);
    expect(indices.toArray()).toEqual([
      [4, 2, 0],
      [3, 1, 0],
    ]);
    expect(() => lax.topK(np.ones([4]), 5)).toThrow(/topK: k must be an integer in \[0, 4\]/);
  });
});

describe('position encodings', () => {
  it('sinusoidal: sin at even features, cos at odd, of p / 10000^(2i/d)', () => {
    const pe = F.sinusoidalPositions(5, 6, { dtype: 'float64' });
    const want = Array.from({ length: 5 }, (_, p) =>
      Array.from({ length: 6 }, (_, f) => {
        const angle = p / 10000 ** ((2 * Math.floor(f / 2)) / 6);
        return f % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
      }),
    );
    assertClose(pe, { data: want.flat(), shape: [5, 6] }, { rtol: 1e-12, atol: 1e-14 });
    expect(nn.sinusoidalEncoding.apply({}, {}, np.zeros([2, 5, 6])).y.shape).toEqual([2, 5, 6]);
  });
  it('rotary: rotates (x_i, x_{i+H/2}) by position * base^(-2i/H), keeping norms and relative dot products', () => {
    const q = random.normal(key, [1, 6, 2, 4]).astype('float64');
    const r = F.rotaryEmbedding(q);
    const data = values(q),
      got = values(r);
    for (let t = 0; t < 6; t++)
      for (let n = 0; n < 2; n++)
        for (let i = 0; i < 2; i++) {
          const angle = t * 10000 ** (-i / 2);
          const at = (t * 2 + n) * 4;
          const [a, b] = [data[at + i], data[at + i + 2]];
          expect(got[at + i]).toBeCloseTo(a * Math.cos(angle) - b * Math.sin(angle), 5);
          expect(got[at + i + 2]).toBeCloseTo(b * Math.cos(angle) + a * Math.sin(angle), 5);
        }
    expect(() => F.rotaryEmbedding(np.ones([2, 3, 1, 3]))).toThrow(/even H/);
  });
  it('learned position embeddings: a [maxLength, D] table added to the input', () => {
    const layer = nn.positionalEmbedding(8);
    const { params } = layer.init(key, [2, 5, 3]);
    expect(params.weight.shape).toEqual([8, 3]);
    const y = layer.apply(params, {}, np.zeros([2, 5, 3])).y as NDArray;
    expect(values(np.slice(y, 0))).toEqual(values(np.slice(params.weight, [0, 5])));
    expect(() => layer.apply(params, {}, np.zeros([1, 9, 3]))).toThrow(/9 positions, but the table holds 8/);
  });
});

describe('modules that fit real models', () => {
  it('init takes example inputs of any dtype and structure, gives the forward a key, and allows tree outputs', () => {
    const lm = nn.module(
      'tinyLM',
      { wte: nn.embedding(50, 8), wpe: nn.positionalEmbedding(16), ln: nn.layerNorm(), head: nn.dense(50) },
      (m, x: { ids: NDArray }, opts) => {
        const h = m.ln(m.wpe(m.wte(x.ids)));
        const noise = random.normal(opts.key!, h.shape); // randomness in the forward, at init too
        return { logits: m.head(h), hidden: np.add(h, np.multiply(noise, 0)) };
      },
    );
    const ids = new ShapeDtype([2, 12], 'int32');
    const { params, outShape } = lm.init(key, { ids });
    expect(params.wte.weight.shape).toEqual([50, 8]);
    expect(params.wpe.weight.shape).toEqual([16, 8]);
    expect(outShape).toEqual([2, 12, 8]); // the first leaf in tree order (keys sorted): hidden
    const out = lm.apply(params, {}, { ids: np.zeros([2, 12], { dtype: 'int32' }) }, { key }).y;
    expect(out.logits.shape).toEqual([2, 12, 50]);
    expect(out.hidden.shape).toEqual([2, 12, 8]);
  });
});

// PyTorch float64 values and VJPs (test/golden/transformer-layers.json, made by
// scripts/transformer-goldens.py with Debian's python3-torch).
describe('against PyTorch float64 goldens', () => {
  type Tensor = { shape: number[]; data: number[] };
  type Case = {
    op: string;
    params: Record<string, number>;
    inputs: Record<string, Tensor>;
    constants: Record<string, Tensor>;
    output: Tensor;
    cotangent: Tensor;
    grads: Record<string, Tensor>;
  };
  const file = JSON.parse(readFileSync(new URL('./golden/transformer-layers.json', import.meta.url), 'utf8')) as {
    cases: Case[];
  };
  const arr = (t: Tensor) => np.array(t.data, { dtype: 'float64', shape: t.shape });
  type In = Record<string, NDArray>;
  const mha = (x: In, c: In) =>
    nn.multiHeadAttention(8, 2).apply(
      {
        in_proj_weight: x.in_proj_weight,
        in_proj_bias: x.in_proj_bias,
        out_proj: { weight: x['out_proj.weight'], bias: x['out_proj.bias'] },
      },
      {},
      c.keyPaddingMask ? { query: x.x, keyPaddingMask: np.notEqual(c.keyPaddingMask, 0) } : x.x,
    ).y as NDArray;
  const attention = (x: In, c: In, opts: object = {}) =>
    F.dotProductAttention(x.q, x.k, x.v, { ...opts, ...(c.mask ? { mask: np.notEqual(c.mask, 0) } : {}) });
  const ops: Record<string, (x: In, c: In, p: Record<string, number>) => NDArray> = {
    silu: (x) => F.silu(x.x),
    mish: (x) => F.mish(x.x),
    relu6: (x) => F.relu6(x.x),
    hardSwish: (x) => F.hardSwish(x.x),
    hardSigmoid: (x) => F.hardSigmoid(x.x),
    selu: (x) => F.selu(x.x),
    celu: (x) => F.celu(x.x),
    logSigmoid: (x) => F.logSigmoid(x.x),
    softsign: (x) => F.softsign(x.x),
    gelu: (x) => F.gelu(x.x),
    geluTanh: (x) => F.gelu(x.x, { approximate: 'tanh' }),
    glu: (x) => F.glu(x.x),
    layerNorm: (x) => F.layerNorm(x.x, 4, x.weight, x.bias),
    rmsNorm: (x, _, p) => F.rmsNorm(x.x, 4, x.weight, { eps: p.eps }),
    groupNorm: (x, _, p) => F.groupNorm(x.x, p.groups, x.weight, x.bias),
    instanceNorm: (x) => F.instanceNorm(x.x, x.weight, x.bias),
    attention: (x, c) => attention(x, c),
    attentionCausal: (x, c) => attention(x, c, { isCausal: true }),
    attentionBias: (x, c) => attention(x, c, { bias: x.bias }),
    attentionGrouped: (x, c) => attention(x, c),
    multiHeadAttention: mha,
    multiHeadAttentionPadded: mha,
  };
  it('covers every case the generator wrote', () => {
    expect(file.cases.map((c) => c.op).filter((op) => !ops[op])).toEqual([]);
    expect(file.cases.length).toBeGreaterThanOrEqual(22);
  });
  for (const c of file.cases)
    it(`${c.op}: values and the VJP for every input`, () => {
      const names = Object.keys(c.inputs);
      const consts = Object.fromEntries(Object.entries(c.constants).map(([k, t]) => [k, arr(t)]));
      const f = (...xs: NDArray[]) => ops[c.op](Object.fromEntries(names.map((n, i) => [n, xs[i]])), consts, c.params);
      const xs = names.map((n) => arr(c.inputs[n]));
      assertClose(f(...xs), arr(c.output), { rtol: 1e-9, atol: 1e-11 }, `${c.op} value`);
      const loss = (...ys: NDArray[]) => np.sum(np.multiply(f(...ys), arr(c.cotangent)));
      const grads = grad(loss, { argnums: names.map((_, i) => i) })(...xs) as NDArray[];
      // PyTorch's hardsigmoid backward multiplies by 1.0f / 6.0f, a float32 sixth (relative error 3e-8).
      const rtol = c.op === 'hardSigmoid' ? 1e-7 : 1e-8;
      names.forEach((n, i) => assertClose(grads[i], arr(c.grads[n]), { rtol, atol: 1e-10 }, `${c.op} d/d${n}`));
    });
});
