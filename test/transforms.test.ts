// Transform compositions, derived transforms, edges of gradients and misuse errors.
import { describe, expect, it } from 'vitest';
import { pipe } from 'fp-ts/lib/function.js';
import {
  type Array,
  DTypeError,
  ShapeError,
  TraceError,
  checkpoint,
  customJvp,
  customVjp,
  grad,
  hessian,
  jacfwd,
  jacrev,
  jit,
  jvp,
  lax,
  linearize,
  makeGraph,
  nn,
  np,
  random,
  stopGradient,
  valueAndGrad,
  vjp,
  vmap,
} from '../src/index.js';
import { assertClose, checkGrads, jitIsTransparent, vmapCommutesWithMap } from '../laws/index.js';
import { definePrimitive } from '../src/core/primitive.js';
import { bind1 } from '../src/core/trace.js';

const x0 = np.array([0.3, -1.2, 2.0]);
const sumSin = (x: Array) => np.sum(np.sin(x));

describe('compositions up to third order', () => {
  // d/dx sum(sin x) = cos x; the second derivative's diagonal is -sin x, the third's is -cos x.
  const d1 = np.cos(x0),
    d2 = np.negative(np.sin(x0)),
    d3 = np.negative(np.cos(x0));
  const ones = np.onesLike(x0);
  const dir = (f: (x: Array) => Array) => (x: Array) => jvp(f, [x], [ones])[1] as Array;
  const cases: [string, () => Array, Array][] = [
    ['grad', () => grad(sumSin)(x0), d1],
    ['jit(grad)', () => jit(grad(sumSin))(x0), d1],
    ['grad(jit)', () => grad(jit(sumSin))(x0), d1],
    ['vmap(grad) per example', () => vmap(grad((x: Array) => np.sin(x)))(x0), d1],
    ['jvp', () => dir(sumSin)(x0).reshape(1), np.array([np.sum(d1).item()])],
    ['grad(grad) elementwise', () => vmap(grad(grad((x: Array) => np.sin(x))))(x0), d2],
    ['jit(vmap(grad(grad)))', () => jit(vmap(grad(grad((x: Array) => np.sin(x)))))(x0), d2],
    ['vmap(jit(grad(jit(grad))))', () => vmap(jit(grad(jit(grad((x: Array) => np.sin(x))))))(x0), d2],
    ['grad(grad(grad))', () => vmap(grad(grad(grad((x: Array) => np.sin(x)))))(x0), d3],
    [
      'jvp of grad of grad',
      () => vmap((x: Array) => jvp(grad(grad((y: Array) => np.sin(y))), [x], [np.onesLike(x)])[1] as Array)(x0),
      d3,
    ],
    ['grad of jvp', () => grad((x: Array) => np.sum(dir((y: Array) => np.sin(y))(x)))(x0), d2],
    ['jit(grad(jit(jvp)))', () => jit(grad(jit((x: Array) => np.sum(dir((y: Array) => np.sin(y))(x)))))(x0), d2],
  ];
  for (const [name, run, expected] of cases) it(name, () => assertClose(run(), expected));
});

describe('derived transforms', () => {
  const mlp = (p: { w1: Array; w2: Array }) => (x: Array) =>
    np.sum(np.tanh(np.matmul(np.tanh(np.matmul(x, p.w1)), p.w2)));
  const p = { w1: random.normal(random.key(1), [3, 4]), w2: random.normal(random.key(2), [4, 1]) };
  it('hessian of a small MLP equals jacfwd(jacrev) and jacrev(jacfwd), and is symmetric', () => {
    const f = (x: Array) => mlp(p)(x.reshape(1, 3));
    const h = hessian(f)(x0);
    assertClose(h, jacfwd(jacrev(f))(x0));
    assertClose(h, jacrev(jacfwd(f))(x0), { rtol: 1e-4, atol: 1e-5 });
    assertClose(h, np.transpose(h), { rtol: 1e-4, atol: 1e-5 });
  });
  it('jacobians of a vector function have shape [...out, ...in]', () => {
    const f = (x: Array) => np.matmul(p.w1, np.sin(x.slice([0, 4]).reshape(4)));
    expect(jacfwd(f)(np.ones([5])).shape).toEqual([3, 5]);
    assertClose(jacrev(f)(np.ones([5])), jacfwd(f)(np.ones([5])));
  });
  it('linearize and vjp agree with jvp', () => {
    const f = (x: Array) => np.multiply(np.sin(x), x);
    const [y, fLin] = linearize(f, x0);
    assertClose(y, f(x0));
    assertClose(fLin(ones3()), jvp(f, [x0], [ones3()])[1] as Array);
    const [, back] = vjp(f, x0);
    assertClose(back(ones3())[0], grad((x: Array) => np.sum(f(x)))(x0));
  });
  it('hessian-vector product by jvp of grad', () => {
    const f = (x: Array) => np.sum(np.power(x, 3));
    const v = np.array([1, 0, 2]);
    assertClose(jvp(grad(f), [x0], [v])[1] as Array, np.multiply(np.multiply(x0, 6), v));
  });
  it('valueAndGrad over pytrees with argnums and aux', () => {
    const loss = (w: { a: Array; b: Array }, x: Array, scale: number) =>
      [np.multiply(np.sum(np.multiply(w.a, x)), scale), w.b.add(1)] as [Array, Array];
    const w = { a: np.array([1, 2]), b: np.array(3) };
    const [[v, aux], g] = valueAndGrad(loss, { argnums: [0, 1], hasAux: true })(w, np.array([3, 4]), 2);
    expect(v.item()).toBe(22);
    expect(aux.item()).toBe(4);
    expect(g[0].a.toArray()).toEqual([6, 8]);
    expect(g[0].b.toArray()).toEqual(0);
    expect(g[1].toArray()).toEqual([2, 4]);
  });
});
const ones3 = () => np.ones([3]);

describe('gradients at the edges', () => {
  it('max ties share the gradient, as in JAX', () => {
    expect(grad((x: Array) => np.max(x))(np.array([1, 3, 3])).toArray()).toEqual([0, 0.5, 0.5]);
    expect(grad((x: Array) => np.sum(np.maximum(x, 1)))(np.array([1, 2])).toArray()).toEqual([0.5, 1]);
  });
  it('abs and relu at 0 give 0, sqrt at 0 gives inf', () => {
    expect(grad((x: Array) => np.sum(np.abs(x)))(np.array([0])).toArray()).toEqual([0]);
    expect(grad((x: Array) => np.sum(nn.functional.relu(x)))(np.array([0])).toArray()).toEqual([0]);
    expect(grad((x: Array) => np.sum(np.sqrt(x)))(np.array([0])).toArray()).toEqual([Infinity]);
  });
  it('broadcasting in both directions sums gradients to operand shapes', () => {
    const [ga, gb] = grad((a: Array, b: Array) => np.sum(np.multiply(a, b)), { argnums: [0, 1] })(
      np.ones([3, 1]),
      np.arange(4).astype('float32'),
    );
    expect(ga.toArray()).toEqual([[6], [6], [6]]);
    expect(gb.toArray()).toEqual([3, 3, 3, 3]);
  });
  it('composites check out in forward and reverse mode', () => {
    const x = np.array([
      [0.5, -1, 2],
      [1, 0.3, -0.7],
    ]);
    expect(checkGrads((v) => np.logsumexp(v, { axis: 1 }), [x], { order: 2 })).toBe(true);
    expect(checkGrads((v) => np.variance(v, { axis: 0 }), [x], { order: 2 })).toBe(true);
    expect(checkGrads((v) => np.einsum('ij,kj->ik', v, np.sin(v)), [x])).toBe(true);
    expect(checkGrads((v) => v.at(0, '1:3').set(np.sin(v.slice(1, [0, 2]))), [x])).toBe(true);
    expect(checkGrads((v) => v.at([1, 0, 1], [2, 0, 2]).get(), [x])).toBe(true);
    expect(checkGrads((v) => v.at(null, [2, 0]).set(np.sin(v.at(null, [0, 1]).get())), [x])).toBe(true);
    expect(checkGrads((v) => v.at([1, 1], 0).multiply(v.at(0, '1:').get()), [x])).toBe(true);
    expect(checkGrads((v) => v.at(null, 0).add(3).multiply(v), [x])).toBe(true);
    expect(
      checkGrads(
        (v) => np.prod(v, { axis: 1 }),
        [
          np.array([
            [0, 2, 3],
            [1, 0, 0],
          ]),
        ],
      ),
    ).toBe(true);
    expect(checkGrads((v) => np.sort(v, { axis: 1 }), [x])).toBe(true);
    expect(checkGrads((v) => np.cumsum(v, { axis: 1 }), [x])).toBe(true);
    expect(checkGrads((v) => np.takeAlongAxis(v, np.array([[2], [0]], { dtype: 'int32' }), 1), [x])).toBe(true);
  });
  it('stopGradient blocks, customJvp and customVjp override, checkpoint recomputes', () => {
    expect(grad((x: Array) => np.sum(np.multiply(stopGradient(x), x)))(np.array([3])).toArray()).toEqual([3]);
    const f = customJvp(
      (x: Array) => np.sin(x),
      ([x]: [Array], [t]: [Array]) => [np.sin(x), np.multiply(t, 2)],
    );
    expect(grad((x: Array) => np.sum(f(x)))(np.array([1])).toArray()).toEqual([2]);
    expect(vmap(grad((x: Array) => f(x)))(np.array([1, 2])).toArray()).toEqual([2, 2]);
    const g = customVjp(
      (x: Array) => np.sin(x),
      (x: Array) => [np.sin(x), x] as [Array, Array],
      (_res: Array, ct: Array) => [np.multiply(ct, 10)],
    );
    expect(jit(grad((x: Array) => np.sum(g(x))))(np.array([1, 2])).toArray()).toEqual([10, 10]);
    expect(() => jvp((x: Array) => g(x), [np.array([1])], [np.array([1])])).toThrow(
      /forward-mode differentiation .* customVjp/,
    );
    const block = checkpoint((x: Array) => np.sin(np.sin(x)));
    assertClose(grad((x: Array) => np.sum(block(x)))(x0), grad((x: Array) => np.sum(np.sin(np.sin(x))))(x0));
    // Under reverse mode the checkpoint saves its input only: the backward graph recomputes sin(x).
    const printed = makeGraph(grad((x: Array) => np.sum(block(x))))(x0).toString();
    expect(printed.match(/= sin/g)?.length).toBe(1);
  });
});

describe('jit', () => {
  it('retraces only when structure, shapes, dtypes or static values change', () => {
    const f = jit((x: Array, opts: { scale: number }) => np.multiply(x, opts.scale));
    f(np.ones([2]), { scale: 2 });
    f(np.zeros([2]), { scale: 2 });
    expect(f.traceCount).toBe(1);
    f(np.ones([3]), { scale: 2 });
    f(np.ones([3]), { scale: 3 });
    f(np.ones([3], { dtype: 'int32' }), { scale: 3 });
    expect(f.traceCount).toBe(4);
    expect(f(np.ones([2]), { scale: 5 }).toArray()).toEqual([5, 5]);
  });
  it('staticArgnums and pytree outputs', () => {
    const f = jit((x: Array, n: number) => ({ y: np.multiply(x, n), n: np.array(n) }), { staticArgnums: [1] });
    expect(f(np.ones([1]), 4).y.toArray()).toEqual([4]);
    expect(f.traceCount).toBe(1);
  });
  it('composes data-last with fp-ts pipe: pipe(f, grad, jit)', () => {
    const g = pipe(sumSin, grad, jit);
    assertClose(g(x0), np.cos(x0));
    expect(g.traceCount).toBe(1);
  });
  it('removes dead code and merges common subexpressions', () => {
    const f = (x: Array) => {
      np.exp(x); // dead
      return np.add(np.sin(x), np.sin(x));
    };
    const g = makeGraph(f)(x0);
    expect(g.eqns.map((e) => e.prim.name)).toEqual(['sin', 'add']);
    expect(jitIsTransparent(f, [x0])).toBe(true);
  });
  it('merges equations with the same inputs only where their params match too', () => {
    const sq = np.arange(9).reshape([3, 3]);
    // Three sums of one input: over axis 0, over axis 1 (same shape, other params), over axis 0 again.
    const f = (x: Array) => [np.sum(x, { axis: 0 }), np.sum(x, { axis: 1 }), np.sum(x, { axis: 0 })];
    const g = makeGraph(f)(sq);
    expect(g.eqns.filter((e) => e.prim.name.startsWith('reduce')).length).toBe(2);
    expect(g.outs[2]).toBe(g.outs[0]);
    const [a, b, c] = jit(f)(sq);
    expect(a.toArray()).toEqual([9, 12, 15]);
    expect(b.toArray()).toEqual([3, 12, 21]);
    expect(c.toArray()).toEqual([9, 12, 15]);
  });
  it('merges only exact repeats: -0 is not 0 (x + -0 keeps the sign of x = -0)', () => {
    const f = (x: Array) => [np.add(x, 0), np.add(x, -0)];
    const g = makeGraph(f)(x0);
    expect(g.eqns.filter((e) => e.prim.name === 'add').length).toBe(2);
    const [plus0, plusMinus0] = jit(f)(np.array([-0, 1]));
    expect(Object.is((plus0.toArray() as number[])[0], 0)).toBe(true);
    expect(Object.is((plusMinus0.toArray() as number[])[0], -0)).toBe(true);
  });
  it('typechecks each staged graph again where checks are on (FLUXION_CHECKS=1, as the tests run)', () => {
    expect(process.env.FLUXION_CHECKS).toBe('1');
    // A primitive whose result type changes after tracing: only the second look at the graph sees it.
    let looks = 0;
    const shifty = definePrimitive({
      name: 'test_shifty_dtype',
      abstractEval: ([x]) => [{ shape: x.shape, dtype: looks++ === 0 ? x.dtype : 'int32' }],
      impl: (xs) => xs,
    });
    expect(() => jit((x: Array) => bind1(shifty, [x]))(np.ones([2]))).toThrow(
      /typecheck: test_shifty_dtype produces i32\[2\] but declares f32\[2\]/,
    );
  });
  it('a JS if on a traced value explains what to do', () => {
    const f = jit((x: Array) => (np.sum(x).item() > 0 ? x : np.negative(x)));
    expect(() => f(x0)).toThrow(TraceError);
    expect(() => f(x0)).toThrow(/Use lax.cond/);
    // forward mode keeps values concrete, so value-dependent JS still works there (as in JAX)
    expect(jvp((x: Array) => (np.sum(x).item() > 0 ? x : np.negative(x)), [x0], [x0])[0]).toBeDefined();
  });
});

describe('vmap', () => {
  it('inAxes per argument (trees), outAxes and axisSize', () => {
    const f = (p: { w: Array }, x: Array) => np.matmul(x, p.w);
    const w = random.normal(random.key(0), [3, 2]);
    const xs = random.normal(random.key(1), [5, 3]);
    const y = vmap(f, { inAxes: [{ w: null }, 0] })({ w }, xs);
    assertClose(y, np.matmul(xs, w));
    expect(vmap((x: Array) => np.sum(x), { inAxes: 1 })(np.ones([2, 4])).shape).toEqual([4]);
    expect(vmap((x: Array) => np.stack([x, x]), { outAxes: 1 })(np.ones([4, 3])).shape).toEqual([2, 4, 3]);
    expect(vmap(() => np.ones([2]), { axisSize: 3, inAxes: null })().shape).toEqual([3, 2]);
    expect(
      vmapCommutesWithMap(
        (a: Array, b: Array) => np.einsum('ij,j->i', a, b),
        [np.ones([4, 2, 3]), np.ones([3])],
        [0, null],
      ),
    ).toBe(true);
  });
  it('nested vmap and vmap of scan/cond/while', () => {
    const outer = vmap(
      vmap((a: Array, b: Array) => np.multiply(a, b), { inAxes: [0, null] }),
      { inAxes: [null, 0] },
    );
    expect(outer(np.arange(3).astype('float32'), np.arange(2).astype('float32')).toArray()).toEqual([
      [0, 0, 0],
      [0, 1, 2],
    ]);
    const cum = (xs: Array) => lax.scan((c: Array, x: Array) => [c.add(x), c.add(x)], np.array(0), xs)[1];
    expect(
      vmap(cum)(
        np.array([
          [1, 2, 3],
          [4, 5, 6],
        ]),
      ).toArray(),
    ).toEqual([
      [1, 3, 6],
      [4, 9, 15],
    ]);
  });
  it('mismatched sizes and structures name the argument path', () => {
    expect(() => vmap((a: Array, b: Array) => np.add(a, b))(np.ones([3]), np.ones([4]))).toThrow(
      new ShapeError('vmap: mapped axes disagree in size: args[1] of shape (4,) has 4 along axis 0, others have 3'),
    );
    expect(() => vmap((p: { w: Array }) => p.w, { inAxes: [{ v: 0 }] })({ w: np.ones([2]) })).toThrow(
      /inAxes.*has structure \{v: \*\} but the argument there has \{w: \*\}/,
    );
  });
});

describe('misuse errors', () => {
  it('grad of a non-scalar or integer function', () => {
    expect(() => grad((x: Array) => np.sin(x))(x0)).toThrow(DTypeError);
    expect(() => grad((x: Array) => np.sin(x))(x0)).toThrow(
      /must return a float scalar, got f32\[3\]; use vjp or jacrev/,
    );
    expect(() => grad((x: Array) => np.sum(x))(np.array([1, 2], { dtype: 'int32' }))).toThrow(
      /args\[0\] has dtype int32/,
    );
  });
  it('scan and while bodies that change the carry type', () => {
    expect(() => lax.scan((c: Array, x: Array) => [np.stack([c, x]), x], np.array(0), np.ones([3]))).toThrow(
      /scan: the body changes carry from f32\[\] to f32\[2\]/,
    );
    expect(() =>
      lax.whileLoop(
        (c: Array) => np.less(c, 3),
        (c: Array) => c.astype('int32'),
        np.array(0),
      ),
    ).toThrow(/whileLoop: the body changes carry from f32\[\] to i32\[\]/);
    expect(() =>
      grad((x: Array) =>
        lax.whileLoop(
          (c: Array) => np.less(c, 3),
          (c: Array) => c.add(x),
          x,
        ),
      )(np.array(1)),
    ).toThrow(/not reverse-differentiable/);
  });
  it('switch branches must agree and leaked tracers are caught', () => {
    expect(() => lax.switch(0, [(x: Array) => x, (x: Array) => np.stack([x, x])], np.ones([2]))).toThrow(
      /switch: branch 1's output/,
    );
    let leaked: Array | undefined;
    jit((x: Array) => ((leaked = x), x))(np.ones([1]));
    expect(() => np.add(leaked!, 1)).toThrow(TraceError);
  });
});

describe('control flow', () => {
  it('scan, cond, fori and whileLoop compute and differentiate', () => {
    const [total, partial] = lax.scan((c: Array, x: Array) => [c.add(x), c.add(x)], np.array(0), np.array([1, 2, 3]), {
      reverse: true,
    });
    expect([total.item(), partial.toArray()]).toEqual([6, [6, 5, 3]]);
    expect(lax.fori(0, 5, (i: Array, c: Array) => c.add(i.astype('float32')), np.array(0)).item()).toBe(10);
    expect(
      lax
        .whileLoop(
          (c: Array) => np.less(c, 10),
          (c: Array) => c.multiply(2),
          np.array(1),
        )
        .item(),
    ).toBe(16);
    const f = (x: Array) =>
      lax.cond(
        np.greater(x, 0),
        (v: Array) => np.multiply(v, v),
        (v: Array) => np.negative(v),
        x,
      );
    expect([grad(f)(np.array(3)).item(), grad(f)(np.array(-3)).item()]).toEqual([6, -1]);
    expect(vmap(grad(f))(np.array([3, -3])).toArray()).toEqual([6, -1]);
    const pow = (x: Array) => lax.fori(0, 4, (_i: Array, c: Array) => c.multiply(x), np.array(1));
    expect(jit(grad(pow))(np.array(2)).item()).toBe(32);
    expect(
      jvp(
        (x: Array) =>
          lax.whileLoop(
            (c: Array) => np.less(c, 100),
            (c: Array) => c.multiply(x),
            x,
          ),
        [np.array(3)],
        [np.array(1)],
      )[1].item(),
    ).toBe(5 * 81);
  });
});

describe('Jacobians of pytrees and several arguments (JAX layout)', () => {
  const w = np.array([
    [1, 2],
    [3, 4],
  ]);
  const b = np.array([0.5, -1]);
  const x = np.array([0.3, 0.7]);
  const f = (p: { w: Array; b: Array }, v: Array) => ({ y: np.tanh(np.add(np.matmul(p.w, v), p.b)), s: np.sum(v) });
  it('jacfwd and jacrev agree leaf by leaf: the output tree with each leaf replaced by the argument tree', () => {
    const jf = jacfwd(f)({ w, b }, x);
    const jr = jacrev(f)({ w, b }, x);
    expect(Object.keys(jf)).toEqual(['s', 'y']);
    expect(jf.y.w.shape).toEqual([2, 2, 2]);
    expect(jf.y.b.shape).toEqual([2, 2]);
    expect(jf.s.w.shape).toEqual([2, 2]);
    for (const out of ['y', 's'])
      for (const leaf of ['w', 'b']) assertClose(jr[out][leaf], jf[out][leaf], { rtol: 1e-5, atol: 1e-6 });
    // d tanh(Wx + b)/db = diag(1 - y²); d sum(x)/dw = 0.
    const y = f({ w, b }, x).y;
    assertClose(jf.y.b, np.multiply(np.eye(2), np.subtract(1, np.square(y))), { rtol: 1e-5, atol: 1e-6 });
    assertClose(jf.s.w, np.zeros([2, 2]));
  });
  it('argnums as a list gives a tuple per output leaf; out-of-range argnums is a clear error', () => {
    const g = (u: Array, v: Array) => np.multiply(u, np.sin(v));
    const [du, dv] = jacrev(g, { argnums: [0, 1] })(x, b);
    assertClose(du, np.multiply(np.eye(2), np.sin(b)), { rtol: 1e-6, atol: 1e-7 });
    assertClose(dv, np.multiply(np.eye(2), np.multiply(x, np.cos(b))), { rtol: 1e-6, atol: 1e-7 });
    const [fu, fv] = jacfwd(g, { argnums: [0, 1] })(x, b);
    assertClose(fu, du);
    assertClose(fv, dv);
    expect(() => jacfwd(g, { argnums: 2 })(x, b)).toThrow(/jacfwd: argnums 2 is out of range for 2 arguments/);
    expect(() => jacrev(g)(np.array([1, 2], { dtype: 'int32' }), b)).toThrow(/float arrays/);
  });
  it('hessian over two arguments nests as JAX: h[i][j] = d²f / d arg_i d arg_j', () => {
    const g = (u: Array, v: Array) => np.sum(np.multiply(np.square(u), v));
    const h = hessian(g, { argnums: [0, 1] })(x, b);
    // d²/du² = diag(2v); d²/du dv = diag(2u); d²/dv² = 0.
    assertClose(h[0][0], np.multiply(np.eye(2), np.multiply(2, b)), { rtol: 1e-5, atol: 1e-6 });
    assertClose(h[0][1], np.multiply(np.eye(2), np.multiply(2, x)), { rtol: 1e-5, atol: 1e-6 });
    assertClose(h[1][0], np.multiply(np.eye(2), np.multiply(2, x)), { rtol: 1e-5, atol: 1e-6 });
    assertClose(h[1][1], np.zeros([2, 2]));
  });
});
