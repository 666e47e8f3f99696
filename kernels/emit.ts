/**
 * WGSL emitters: every materialised variable of a prepared Graph becomes one WGSL kernel. Values
 * that are not materialised are emitted as expressions at the index where a kernel needs
 * them (elementwise ops through their `wgsl` rule, views as index arithmetic), memoised so a
 * value used twice at one index is computed once.
 * @module
 */
import { type ShapedArray } from '../src/core/array.js';
import { type DType, computeDType, isFloat } from '../src/core/dtype.js';
import { FluxionError } from '../src/core/errors.js';
import { type Atom, type Eqn, Graph, Lit, Var } from '../src/core/ir.js';
import type { Primitive } from '../src/core/primitive.js';
import { sizeOf, stridesOf } from '../src/core/shape.js';
import { WORKGROUP, entry, literal, load, prelude, round, storageType, store, valueType } from './wgsl.js';
import { decompositionKernel } from './linalg.js';
import * as P from '../src/primitives/index.js';
import { windowOutShape, type FoldParams, type UnfoldParams, type DotParams } from '../src/primitives/index.js';
import { type Epilogue, describePlan, epilogues, isKernel, materialised } from '../src/compile/plan.js';

/** One compute kernel: WGSL source, the buffers it reads and writes, the invocation count. */
export interface Kernel {
  name: string;
  code: string;
  reads: Var[];
  writes: Var[];
  n: number;
  fused: string[];
  /** Workgroup grid for kernels with their own geometry (tiled matmul); else n / WORKGROUP. */
  grid?: [number, number, number];
}

/** Thrown when a kernel would read more storage buffers than the device allows. */
class TooManyBuffers extends Error {
  constructor(readonly culprit: Var) {
    super('too many buffers');
  }
}

const u = (n: number) => `${n}u`;

/** Per-kernel emission state. */
class Emitter {
  lines: string[] = [];
  private memo = new Map<string, string>();
  constructor(
    readonly k: KernelBuilder,
    readonly indent = '  ',
  ) {}
  let(expr: string): string {
    const name = `t${this.k.counter++}`;
    this.lines.push(`${this.indent}let ${name} = ${expr};`);
    return name;
  }
  /** Unravels a flat index into coordinates of `shape` (u32 lets). */
  coords(idx: string, shape: readonly number[]): string[] {
    const st = stridesOf(shape);
    const base = this.let(idx);
    return shape.map((d, i) => (d <= 1 ? '0u' : this.let(`(${base} / ${u(st[i])}) % ${u(d)}`)));
  }
  /** A flat index from coordinate expressions and strides. */
  flat(terms: [string, number][]): string {
    const parts = terms.filter(([, s]) => s !== 0).map(([c, s]) => (s === 1 ? `${c}` : `${c} * ${u(s)}`));
    return parts.length ? `(${parts.join(' + ')})` : '0u';
  }
  /** Makes `v` at `idx` read from a register (an epilogue's accumulator). */
  seed(v: Var, idx: string, register: string): void {
    this.memo.set(`${v.id}@${idx}`, register);
  }
  expr(a: Atom, idx: string): string {
    if (a instanceof Lit) return literal(a.value, a.aval.dtype);
    const key = `${a.id}@${idx}`;
    let v = this.memo.get(key);
    if (v === undefined) {
      v = this.k.mat.has(a.id) ? load(this.k.buffer(a), idx, a.aval.dtype) : this.eqnExpr(this.k.def(a), idx, a);
      this.memo.set(key, v);
    }
    return v;
  }
  /** The value of an equation's (single) output at `idx`. */
  eqnExpr(e: Eqn, idx: string, out: Var): string {
    this.k.fused.add(e.prim.name);
    const [x] = e.inputs;
    const p = e.params as any;
    const oShape = out.aval.shape;
    // Elementwise rules see compute dtypes (f32 for float16); the result is rounded to its own.
    if (e.prim.wgsl)
      return this.let(
        round(
          e.prim.wgsl(
            e.inputs.map((a) => this.expr(a, idx)),
            e.inputs.map((a) => computeDType(a.aval.dtype)),
            e.params,
          ),
          out.aval.dtype,
        ),
      );
    const xs = x ? stridesOf(x.aval.shape) : [];
    switch (e.prim) {
      case P.reshapeP:
        return this.expr(x, idx);
      case P.broadcastInDimP: {
        const c = this.coords(idx, oShape);
        return this.expr(x, this.flat(p.dims.map((d: number, i: number) => [c[d], x.aval.shape[i] === 1 ? 0 : xs[i]])));
      }
      case P.transposeP: {
        const c = this.coords(idx, oShape);
        return this.expr(x, this.flat(p.perm.map((q: number, k: number) => [c[k], xs[q]])));
      }
      case P.sliceP: {
        const c = this.coords(idx, oShape);
        return this.expr(x, this.flat(c.map((ck, k) => [`(${u(p.start[k])} + ${ck} * ${u(p.strides[k])})`, xs[k]])));
      }
      case P.revP: {
        const c = this.coords(idx, oShape);
        return this.expr(
          x,
          this.flat(c.map((ck, k) => [p.axes.includes(k) ? `(${u(x.aval.shape[k] - 1)} - ${ck})` : ck, xs[k]])),
        );
      }
      case P.iotaP: {
        const c = this.coords(idx, oShape);
        return this.let(`${valueType(out.aval.dtype)}(${c[p.dimension]})`);
      }
      case P.padP: {
        const c = this.coords(idx, oShape);
        const conds: string[] = [];
        const terms: [string, number][] = c.map((ck, k) => {
          const q = p.interior[k] + 1;
          const pk = this.let(`i32(${ck}) - ${p.lo[k]}i`);
          conds.push(`${pk} >= 0i`, `${pk} % ${q}i == 0i`, `${pk} / ${q}i < ${x.aval.shape[k]}i`);
          return [`u32(max(${pk}, 0i) / ${q}i)`, xs[k]];
        });
        const valid = this.let(conds.length ? conds.join(' && ') : 'true');
        const inner =
          sizeOf(x.aval.shape) === 0
            ? literal(p.value, out.aval.dtype)
            : this.expr(x, `select(0u, ${this.flat(terms)}, ${valid})`);
        return this.let(`select(${literal(p.value, out.aval.dtype)}, ${inner}, ${valid})`);
      }
      case P.concatenateP: {
        const c = this.coords(idx, oShape);
        let acc = '';
        let offset = 0;
        e.inputs.forEach((inp) => {
          const ish = inp.aval.shape,
            is = stridesOf(ish);
          const w = ish[p.axis];
          if (w === 0) return;
          const local = this.flat(c.map((ck, k) => [k === p.axis ? `(${ck} - ${u(offset)})` : ck, is[k]]));
          const inside = `${c[p.axis]} >= ${u(offset)} && ${c[p.axis]} < ${u(offset + w)}`;
          const val = this.expr(inp, `select(0u, ${local}, ${inside})`);
          acc = acc ? `select(${acc}, ${val}, ${inside})` : val;
          offset += w;
        });
        return this.let(acc || literal(0, out.aval.dtype));
      }
      case P.unfoldP: {
        const q = p as UnfoldParams;
        const r = q.window.length;
        const lead = x.aval.shape.length - r;
        const c = this.coords(idx, oShape);
        const conds: string[] = [];
        const terms: [string, number][] = [];
        for (let d = 0; d < lead; d++) terms.push([c[d], xs[d]]);
        for (let d = 0; d < r; d++) {
          const pos = this.let(
            `i32(${c[lead + r + d]}) * ${q.strides[d]}i - ${q.padding[d][0]}i + i32(${c[lead + d]}) * ` +
              `${q.dilation[d]}i`,
          );
          conds.push(`${pos} >= 0i && ${pos} < ${x.aval.shape[lead + d]}i`);
          terms.push([`u32(max(${pos}, 0i))`, xs[lead + d]]);
        }
        const valid = this.let(conds.join(' && ') || 'true');
        const val = this.expr(x, `select(0u, ${this.flat(terms)}, ${valid})`);
        return this.let(`select(${literal(q.padValue, out.aval.dtype)}, ${val}, ${valid})`);
      }
      case P.gatherP: {
        const [src, ix] = e.inputs;
        const axis = p.axis as number;
        const s = src.aval.shape,
          ishape = ix.aval.shape;
        const c = this.coords(idx, oShape);
        const st = stridesOf(ishape);
        const j = this.flat(ishape.map((_, k) => [c[axis + k], st[k]]));
        const raw = this.expr(ix, j);
        const a = this.let(`u32(clamp(${raw}, 0i, ${Math.max(0, s[axis] - 1)}i))`);
        const ss = stridesOf(s);
        const terms: [string, number][] = s.map((_, k) => [
          k < axis ? c[k] : k === axis ? a : c[k - 1 + ishape.length],
          ss[k],
        ]);
        return this.expr(src, this.flat(terms));
      }
    }
    throw new FluxionError(`webgpu: cannot inline ${e.prim.name}`);
  }
}

/** Builds one kernel: tracks bindings and fused primitive names. */
class KernelBuilder {
  counter = 0;
  reads: Var[] = [];
  fused = new Set<string>();
  constructor(
    readonly defs: Map<number, Eqn>,
    readonly mat: Set<number>,
    readonly maxBuffers: number,
    readonly tile: number,
  ) {}
  def(v: Var): Eqn {
    const e = this.defs.get(v.id);
    if (!e) throw new FluxionError('webgpu: variable without a definition');
    return e;
  }
  buffer(v: Var): string {
    let k = this.reads.indexOf(v);
    if (k < 0) {
      this.reads.push(v);
      k = this.reads.length - 1;
      if (this.reads.length + 3 > this.maxBuffers) throw new TooManyBuffers(v); // room for up to three outputs
    }
    return `in${k}`;
  }
  module(outs: Var[], body: string, n: number, grouped?: { workgroup: string; size: [number, number] }): string {
    const decl = [
      ...this.reads.map(
        (v, k) => `@group(0) @binding(${k}) var<storage, read> in${k}: array<${storageType(v.aval.dtype)}>;`,
      ),
      ...outs.map(
        (v, k) =>
          `@group(0) @binding(${this.reads.length + k}) var<storage, read_write> out${k}: ` +
          `array<${storageType(v.aval.dtype)}>;`,
      ),
    ];
    if (grouped) {
      // Kernels that cooperate within a workgroup (tiled matmul, long reductions) index by workgroup.
      const ids = '@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u';
      const main = `@compute @workgroup_size(${grouped.size.join(', ')}) fn main(${ids}) {\n${body}\n}`;
      return `${prelude}\n${decl.join('\n')}\n${grouped.workgroup}\n${main}`;
    }
    return `${prelude}\n${decl.join('\n')}\n${entry(body, n)}`;
  }
}

/** Reductions over at least this many elements cooperate within a workgroup. */
const LONG_REDUCTION = 1024;

/** A reduction's starting value: its identity (0 for sum, -inf for max, ...), as the primitive states it. */
const reduceInit = (e: Eqn, d: DType): string => {
  const v = e.prim.props!.reduction!.identity(d);
  return d === 'bool' ? (v ? 'true' : 'false') : literal(v, d);
};
const reduceStep = new Map<Primitive, (acc: string, v: string, d: DType) => string>([
  [P.reduceSumP, (a, v) => `${a} + ${v}`],
  [P.reduceProdP, (a, v) => `${a} * ${v}`],
  [P.reduceMaxP, (a, v, d) => (d === 'bool' ? `${a} || ${v}` : isFloat(d) ? `max_(${a}, ${v})` : `max(${a}, ${v})`)],
  [P.reduceMinP, (a, v, d) => (d === 'bool' ? `${a} && ${v}` : isFloat(d) ? `min_(${a}, ${v})` : `min(${a}, ${v})`)],
]);

/** The body of the kernel that materialises `eqn`'s outputs. */
function kernelBody(
  kb: KernelBuilder,
  e: Eqn,
  epilogue?: Epilogue,
): { body: string; n: number; grid?: [number, number, number]; workgroup?: string; size?: [number, number] } {
  const em = new Emitter(kb);
  const out = e.outs[0];
  const d = out.aval.dtype;
  const p = e.params as any;
  const n = sizeOf(out.aval.shape);
  const finish = (lines: string[]) => ({ body: [...em.lines, ...lines].join('\n'), n });
  if (epilogue) return { ...tiledMatmul(kb, epilogue.dot, epilogue.sinks), n, size: [kb.tile, kb.tile] };
  const loop = (count: number, body: (inner: Emitter, r: string) => string[]) => {
    const inner = new Emitter(kb, '    ');
    const tail = body(inner, 'r');
    return [`  for (var r = 0u; r < ${u(count)}; r++) {`, ...inner.lines, ...tail, '  }'];
  };
  if (!isKernel(e)) return finish([`  out0[i] = ${store(em.eqnExpr(e, 'i', out), d)};`]);
  const x = e.inputs[0];
  const xs = stridesOf(x.aval.shape);
  switch (e.prim) {
    case P.reduceSumP:
    case P.reduceProdP:
    case P.reduceMaxP:
    case P.reduceMinP: {
      kb.fused.add(e.prim.name);
      const axes: number[] = p.axes;
      const kept = x.aval.shape.map((_, k) => k).filter((k) => !axes.includes(k));
      const count = sizeOf(axes.map((a) => x.aval.shape[a]));
      const vt = valueType(d);
      const step = (acc: string, v: string) => reduceStep.get(e.prim)!(acc, v, d);
      if (count >= LONG_REDUCTION && d !== 'bool') {
        // A long reduction: one workgroup per output, strided partial sums, then a tree in workgroup memory.
        const c = em.coords(
          'i',
          kept.map((k) => x.aval.shape[k]),
        );
        const base = em.let(em.flat(kept.map((k, j) => [c[j], xs[k]])));
        const inner = new Emitter(kb, '    ');
        const rc = inner.coords(
          'r',
          axes.map((a) => x.aval.shape[a]),
        );
        const v = inner.expr(x, `${base} + ${inner.flat(axes.map((a, j) => [rc[j], xs[a]]))}`);
        const body = [
          `  let i = wg.x + wg.y * 65535u;`,
          `  if (i >= ${u(n)}) { return; }`,
          ...em.lines,
          `  var acc: ${vt} = ${reduceInit(e, d)};`,
          `  for (var r = lid.x; r < ${u(count)}; r += ${u(WORKGROUP)}) {`,
          ...inner.lines,
          `    acc = ${step('acc', v)};`,
          `  }`,
          `  part[lid.x] = acc;`,
          `  workgroupBarrier();`,
          `  for (var s = ${u(WORKGROUP / 2)}; s > 0u; s = s >> 1u) {`,
          `    if (lid.x < s) { part[lid.x] = ${step('part[lid.x]', 'part[lid.x + s]')}; }`,
          `    workgroupBarrier();`,
          `  }`,
          `  if (lid.x == 0u) { out0[i] = ${store('part[0]', d)}; }`,
        ];
        return {
          body: body.join('\n'),
          n,
          grid: [Math.min(n, 65535), Math.ceil(n / 65535), 1],
          workgroup: `var<workgroup> part: array<${vt}, ${WORKGROUP}>;`,
          size: [WORKGROUP, 1],
        };
      }
      const c = em.coords(
        'i',
        kept.map((k) => x.aval.shape[k]),
      );
      const base = em.let(em.flat(kept.map((k, j) => [c[j], xs[k]])));
      return finish([
        `  var acc: ${vt} = ${reduceInit(e, d)};`,
        ...loop(count, (inner) => {
          const rc = inner.coords(
            'r',
            axes.map((a) => x.aval.shape[a]),
          );
          const v = inner.expr(x, `${base} + ${inner.flat(axes.map((a, j) => [rc[j], xs[a]]))}`);
          return [`    acc = ${step('acc', v)};`];
        }),
        `  out0[i] = ${store('acc', d)};`,
      ]);
    }
    case P.argmaxP:
    case P.argminP: {
      kb.fused.add(e.prim.name);
      const axis: number = p.axis;
      const kept = x.aval.shape.map((_, k) => k).filter((k) => k !== axis);
      const c = em.coords(
        'i',
        kept.map((k) => x.aval.shape[k]),
      );
      const base = em.let(em.flat(kept.map((k, j) => [c[j], xs[k]])));
      const xd = x.aval.dtype;
      const better = e.prim === P.argmaxP ? '>' : '<';
      const nan = (v: string) => (isFloat(xd) ? `isnan_(${v})` : 'false');
      const val = (v: string) => (xd === 'bool' ? `select(0u, 1u, ${v})` : v);
      return finish([
        `  var best = 0u;`,
        `  var bestV = ${val(em.expr(x, base))};`,
        ...loop(x.aval.shape[axis], (inner) => {
          const v = inner.let(val(inner.expr(x, `${base} + r * ${u(xs[axis])}`)));
          return [`    if (!${nan('bestV')} && (${nan(v)} || ${v} ${better} bestV)) { best = r; bestV = ${v}; }`];
        }),
        `  out0[i] = ${d === 'int32' ? 'i32(best)' : 'best'};`,
      ]);
    }
    case P.dotGeneralP:
      return { ...tiledMatmul(kb, e), n, size: [kb.tile, kb.tile] };
    case P.scatterAddP: {
      kb.fused.add('scatter_add');
      const [, ix, upd] = e.inputs;
      const axis: number = p.axis;
      const s = x.aval.shape;
      const inner = sizeOf(s.slice(axis + 1)),
        A = s[axis],
        nj = sizeOf(ix.aval.shape);
      const o = em.let(`i / ${u(A * inner)}`),
        ai = em.let(`(i / ${u(inner)}) % ${u(A)}`),
        k = em.let(`i % ${u(inner)}`);
      return finish([
        `  var acc: ${valueType(d)} = ${em.expr(x, 'i')};`,
        ...loop(nj, (lp) => {
          const j = lp.let(`u32(clamp(${lp.expr(ix, 'r')}, 0i, ${Math.max(0, A - 1)}i))`);
          const v = lp.expr(upd, `(${o} * ${u(nj)} + r) * ${u(inner)} + ${k}`);
          return [`    if (${j} == ${ai}) { acc = acc + ${v}; }`];
        }),
        `  out0[i] = acc;`,
      ]);
    }
    case P.foldP: {
      kb.fused.add('fold');
      const q = p as FoldParams;
      const r = q.window.length;
      const lead = out.aval.shape.length - r;
      const outSp = windowOutShape(q.spatial, q);
      const pshape = x.aval.shape,
        ps = stridesOf(pshape);
      const c = em.coords('i', out.aval.shape);
      const lines = [`  var acc: ${valueType(d)} = ${literal(0, d)};`];
      const taps = sizeOf(q.window);
      lines.push(
        ...loop(taps, (lp) => {
          const w = lp.coords('r', q.window);
          const conds: string[] = [];
          const terms: [string, number][] = [];
          for (let k = 0; k < lead; k++) terms.push([c[k], ps[k]]);
          for (let k = 0; k < r; k++) terms.push([w[k], ps[lead + k]]);
          for (let k = 0; k < r; k++) {
            const t = lp.let(`i32(${c[lead + k]}) + ${q.padding[k][0]}i - i32(${w[k]}) * ${q.dilation[k]}i`);
            conds.push(`${t} >= 0i && ${t} % ${q.strides[k]}i == 0i && ${t} / ${q.strides[k]}i < ${outSp[k]}i`);
            terms.push([`u32(max(${t}, 0i) / ${q.strides[k]}i)`, ps[lead + r + k]]);
          }
          const valid = lp.let(conds.join(' && '));
          const v = lp.expr(x, `select(0u, ${lp.flat(terms)}, ${valid})`);
          return [`    if (${valid}) { acc = acc + ${v}; }`];
        }),
      );
      return finish([...lines, `  out0[i] = acc;`]);
    }
    case P.argsortP: {
      // Rank sort: each element counts the elements that go before it in its row (stable; NaN
      // last), then writes its own index at that rank. O(n^2) per row, no synchronisation.
      kb.fused.add('argsort');
      const rowLen = x.aval.shape[x.aval.shape.length - 1];
      const xd = x.aval.dtype;
      const key = (v: string) =>
        isFloat(xd) ? `select(${v}, inf_(), isnan_(${v}))` : xd === 'bool' ? `select(0u, 1u, ${v})` : v;
      const before = p.descending ? '>' : '<';
      const start = em.let(`i - i % ${u(rowLen)}`);
      const mine = em.let(key(em.expr(x, 'i')));
      const lines = [
        `  var rank = 0u;`,
        ...loop(rowLen, (lp) => {
          const other = lp.let(key(lp.expr(x, `${start} + r`)));
          return [
            `    if (${other} ${before} ${mine} || (${other} == ${mine} && ${start} + r < i)) { rank = rank + 1u; }`,
          ];
        }),
        `  out0[${start} + rank] = i32(i - ${start});`,
      ];
      return finish(lines);
    }
    case P.threefry2x32P: {
      kb.fused.add('threefry2x32');
      const [k0, k1, x0, x1] = e.inputs.map((a) => em.expr(a, 'i'));
      const v = em.let(`threefry_(${k0}, ${k1}, ${x0}, ${x1})`);
      return finish([`  out0[i] = ${v}.x;`, `  out1[i] = ${v}.y;`]);
    }
    case P.choleskyP:
    case P.triangularSolveP:
    case P.luP:
    case P.qrP:
    case P.eighP:
    case P.svdP: {
      // One invocation per matrix of the batch (kernels/linalg.ts); operands are in buffers.
      kb.fused.add(e.prim.name);
      const operands = e.inputs.map((a) => ({ name: kb.buffer(a as Var), shape: a.aval.shape }));
      const body = decompositionKernel(e.prim, operands, e.outs[0].aval.dtype, e.params);
      return { body: body.join('\n'), n: sizeOf(x.aval.shape.slice(0, -2)) };
    }
  }
  throw new FluxionError(`webgpu: no kernel for ${e.prim.name} yet; run this computation on the CPU backend`);
}

/**
 * dot_general for thin products (a side under 64): each TILE x TILE workgroup (16, or 8 on small
 * adapters) computes one output tile of one
 * batch element, staging tiles of both operands in workgroup memory. Operands are read
 * through their (possibly fused) expressions at `[batch, row, k]` and `[batch, k, col]`.
 */
function tiledMatmulSimple(
  kb: KernelBuilder,
  e: Eqn,
  g: Geometry,
  sinks?: Var[],
): { body: string; grid: [number, number, number]; workgroup: string } {
  const TILE = kb.tile;
  const { a, b, d, nb, m, n, kk, aOffset, bOffset } = g;
  const em = new Emitter(kb);
  const vt = valueType(d);
  const lines = [
    `  let bi = wg.z;`,
    `  let row = wg.y * ${u(TILE)} + lid.y;`,
    `  let col = wg.x * ${u(TILE)} + lid.x;`,
    `  var acc: ${vt} = ${literal(0, d)};`,
    `  for (var t = 0u; t < ${u(kk)}; t += ${u(TILE)}) {`,
  ];
  const inner = new Emitter(kb, '    ');
  const aIdx = `min(row, ${u(Math.max(0, m - 1))})`,
    bIdx = `min(col, ${u(Math.max(0, n - 1))})`;
  const ka = inner.let(`min(t + lid.x, ${u(Math.max(0, kk - 1))})`),
    kb2 = inner.let(`min(t + lid.y, ${u(Math.max(0, kk - 1))})`);
  const av = inner.expr(a, aOffset(inner, aIdx, ka)),
    bv = inner.expr(b, bOffset(inner, kb2, bIdx));
  const zero = literal(0, d);
  lines.push(
    ...inner.lines,
    `    tileA[lid.y][lid.x] = select(${zero}, ${av}, row < ${u(m)} && t + lid.x < ${u(kk)});`,
    `    tileB[lid.y][lid.x] = select(${zero}, ${bv}, col < ${u(n)} && t + lid.y < ${u(kk)});`,
    `    workgroupBarrier();`,
    `    for (var q = 0u; q < ${u(TILE)}; q++) { acc = acc + tileA[lid.y][q] * tileB[q][lid.x]; }`,
    `    workgroupBarrier();`,
    `  }`,
  );
  lines.push(
    `  if (row < ${u(m)} && col < ${u(n)}) {`,
    `    let o = (bi * ${u(m)} + row) * ${u(n)} + col;`,
    ...stores(kb, e, sinks, 'acc', '    '),
    `  }`,
  );
  const workgroup = ['tileA', 'tileB']
    .map((t) => `var<workgroup> ${t}: array<array<${vt}, ${TILE}>, ${TILE}>;`)
    .join('\n');
  return { body: [...em.lines, ...lines].join('\n'), grid: [Math.ceil(n / TILE), Math.ceil(m / TILE), nb], workgroup };
}

/**
 * dot_general as a register-blocked tiled product: each of the TILE x TILE threads (16, or 8 on small
 * adapters) computes 4x4 outputs of one
 * batch element, staging tiles of both operands in workgroup memory. Operands are read
 * through their (possibly fused) expressions at `[batch, row, k]` and `[batch, k, col]`.
 */
function blockedMatmul(
  kb: KernelBuilder,
  e: Eqn,
  g: Geometry,
  sinks?: Var[],
): { body: string; grid: [number, number, number]; workgroup: string } {
  const TILE = kb.tile;
  const { a, b, d, nb, m, n, kk, aOffset, bOffset } = g;
  const em = new Emitter(kb);
  const vt = valueType(d);
  // Each of the TILE x TILE threads computes a 4x4 block: a workgroup covers BM x BN outputs,
  // staging BK-deep slices of both operands in workgroup memory.
  const BM = 4 * TILE,
    BN = 4 * TILE,
    BK = TILE,
    threads = TILE * TILE;
  const zero = literal(0, d);
  const clampTo = (v: string, size: number) => `min(${v}, ${u(Math.max(0, size - 1))})`;
  const lines = [
    `  let bi = wg.z;`,
    `  let m0 = wg.y * ${u(BM)};`,
    `  let n0 = wg.x * ${u(BN)};`,
    `  let tid = lid.y * ${u(TILE)} + lid.x;`,
    `  var acc: array<vec4<${vt}>, 4>;`,
    `  for (var t = 0u; t < ${u(kk)}; t += ${u(BK)}) {`,
    `    for (var l = 0u; l < 4u; l++) {`,
    `      let lin = l * ${u(threads)} + tid;`,
    `      let ar = m0 + lin / ${u(BK)};`,
    `      let ak = t + lin % ${u(BK)};`,
    `      let bk = t + lin / ${u(BN)};`,
    `      let bc = n0 + lin % ${u(BN)};`,
  ];
  const inner = new Emitter(kb, '      ');
  const av = inner.expr(a, aOffset(inner, clampTo('ar', m), clampTo('ak', kk))),
    bv = inner.expr(b, bOffset(inner, clampTo('bk', kk), clampTo('bc', n)));
  lines.push(
    ...inner.lines,
    `      tileA[lin % ${u(BK)}][lin / ${u(BK)}] = select(${zero}, ${av}, ar < ${u(m)} && ak < ${u(kk)});`,
    `      tileB[lin / ${u(BN)}][lin % ${u(BN)}] = select(${zero}, ${bv}, bk < ${u(kk)} && bc < ${u(n)});`,
    `    }`,
    `    workgroupBarrier();`,
    `    for (var q = 0u; q < ${u(BK)}; q++) {`,
    `      let a4 = vec4<${vt}>(tileA[q][lid.y * 4u], tileA[q][lid.y * 4u + 1u], tileA[q][lid.y * 4u + 2u], ` +
      `tileA[q][lid.y * 4u + 3u]);`,
    `      let b4 = vec4<${vt}>(tileB[q][lid.x * 4u], tileB[q][lid.x * 4u + 1u], tileB[q][lid.x * 4u + 2u], ` +
      `tileB[q][lid.x * 4u + 3u]);`,
    `      acc[0] = acc[0] + a4.x * b4;`,
    `      acc[1] = acc[1] + a4.y * b4;`,
    `      acc[2] = acc[2] + a4.z * b4;`,
    `      acc[3] = acc[3] + a4.w * b4;`,
    `    }`,
    `    workgroupBarrier();`,
    `  }`,
    `  for (var i = 0u; i < 4u; i++) {`,
    `    for (var j = 0u; j < 4u; j++) {`,
    `      let row = m0 + lid.y * 4u + i;`,
    `      let col = n0 + lid.x * 4u + j;`,
    `      if (row < ${u(m)} && col < ${u(n)}) {`,
    `        let o = (bi * ${u(m)} + row) * ${u(n)} + col;`,
  );
  lines.push(...stores(kb, e, sinks, 'acc[i][j]', '        '), `      }`, `    }`, `  }`);
  const workgroup =
    `var<workgroup> tileA: array<array<${vt}, ${BM}>, ${BK}>;\n` +
    `var<workgroup> tileB: array<array<${vt}, ${BN}>, ${BK}>;`;
  return { body: [...em.lines, ...lines].join('\n'), grid: [Math.ceil(n / BN), Math.ceil(m / BM), nb], workgroup };
}

/** A dot_general seen as matrices `[batch, m, k] x [batch, k, n]`, with operand offset builders. */
function matmulGeometry(e: Eqn) {
  const [a, b] = e.inputs;
  const {
    contract: [ca, cb],
    batch: [ba, bb],
  } = e.params as DotParams;
  const free = (nd: number, ...used: (readonly number[])[]) =>
    [...Array(nd).keys()].filter((k) => !used.some((s) => s.includes(k)));
  const fa = free(a.aval.shape.length, ca, ba),
    fb = free(b.aval.shape.length, cb, bb);
  const dims = (x: Atom, axes: readonly number[]) => axes.map((k) => x.aval.shape[k]);
  const as = stridesOf(a.aval.shape),
    bs = stridesOf(b.aval.shape);
  const terms = (em: Emitter, x: Atom, st: number[], groups: [string, readonly number[]][]) =>
    em.flat(
      groups.flatMap(([idx, axes]) =>
        coordTerms(
          em,
          idx,
          dims(x, axes),
          axes.map((ax) => st[ax]),
        ),
      ),
    );
  return {
    a,
    b,
    d: e.outs[0].aval.dtype,
    nb: sizeOf(dims(a, ba)),
    m: sizeOf(dims(a, fa)),
    n: sizeOf(dims(b, fb)),
    kk: sizeOf(dims(a, ca)),
    /** Flat index of A[bi, row, k]. */
    aOffset: (em: Emitter, row: string, k: string) =>
      terms(em, a, as, [
        ['bi', ba],
        [row, fa],
        [k, ca],
      ]),
    /** Flat index of B[bi, k, col]. */
    bOffset: (em: Emitter, k: string, col: string) =>
      terms(em, b, bs, [
        ['bi', bb],
        [k, cb],
        [col, fb],
      ]),
  };
}

/**
 * A matmul kernel's stores at output index `o`: the epilogue on the accumulator, then one store per
 * value read elsewhere.
 */
function stores(kb: KernelBuilder, e: Eqn, sinks: Var[] | undefined, register: string, indent: string): string[] {
  const ep = new Emitter(kb, indent);
  ep.seed(e.outs[0], 'o', register);
  const writes = (sinks ?? [e.outs[0]]).map((s, k) => `${indent}out${k}[o] = ${store(ep.expr(s, 'o'), s.aval.dtype)};`);
  return [...ep.lines, ...writes];
}

/** Picks the matmul kernel: register-blocked 4x4 per thread when both output sides fill its 64-wide tiles. */
function tiledMatmul(kb: KernelBuilder, e: Eqn, sinks?: Var[]) {
  kb.fused.add('dot_general');
  const g = matmulGeometry(e);
  const big = 4 * kb.tile;
  return g.m >= big && g.n >= big ? blockedMatmul(kb, e, g, sinks) : tiledMatmulSimple(kb, e, g, sinks);
}
type Geometry = ReturnType<typeof matmulGeometry>;

/** Coordinates of a flat group index and their strides, as flat-index terms. */
function coordTerms(em: Emitter, idx: string, shape: number[], strides: number[]): [string, number][] {
  const c = em.coords(idx, shape);
  return c.map((ck, j) => [ck, strides[j]]);
}

/** Lowers a prepared graph into kernels, materialising more values if a kernel would read too many buffers. */
export function lowerGraph(g: Graph, maxBuffers: number, tile = 16): { kernels: Kernel[]; plan: string } {
  const defs = new Map<number, Eqn>();
  for (const e of g.eqns) for (const v of e.outs) defs.set(v.id, e);
  const forced = new Set<number>();
  for (;;) {
    const mat = materialised(g, forced);
    const regions = epilogues(g, mat);
    const inRegion = new Set([...regions.values()].flatMap((r) => [r.dot, ...r.eqns]));
    try {
      const kernels: Kernel[] = [];
      for (const e of g.eqns) {
        const region = regions.get(e);
        if (!region && (inRegion.has(e) || !e.outs.some((v) => mat.has(v.id)))) continue;
        const writes = region ? region.sinks : [...e.outs];
        const kb = new KernelBuilder(
          defs,
          new Set([...mat].filter((id) => !writes.some((v) => v.id === id))),
          maxBuffers,
          tile,
        );
        const { body, n, grid, workgroup, size } = kernelBody(kb, e, region);
        const code = kb.module(writes, body, n, workgroup && size ? { workgroup, size } : undefined);
        kernels.push({
          name: region ? `dot_general+${region.eqns.size}` : e.prim.name,
          code,
          reads: kb.reads,
          writes,
          n,
          fused: [...kb.fused],
          grid,
        });
      }
      return { kernels, plan: describePlan(kernels.map((k) => ({ ...k, reads: k.reads.length }))) };
    } catch (err) {
      if (!(err instanceof TooManyBuffers)) throw err;
      // Split the kernel: materialise the inputs of the value that pulled in one buffer too many.
      const e = defs.get(err.culprit.id);
      const before = forced.size;
      for (const [, eq] of defs) if (eq.inputs.includes(err.culprit)) for (const v of eq.outs) forced.add(v.id);
      if (e) for (const v of e.outs) forced.add(v.id);
      if (forced.size === before)
        throw new FluxionError(
          `webgpu: a ${defs.get(err.culprit.id)?.prim.name ?? 'kernel'} needs more than ${maxBuffers} storage buffers`,
        );
    }
  }
}

export type { ShapedArray };
