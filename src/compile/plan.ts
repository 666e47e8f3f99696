/**
 * Fusion: splits a Graph into kernels. One cost rule decides which values are materialised
 * in buffers: graph inputs and outputs, results of kernel primitives (reductions,
 * contractions, scatters, folds, threefry), and values whose recomputation by several
 * readers would cost more than a buffer. Everything else (elementwise ops and views) is
 * inlined as an expression into the kernels that read it, so chains of elementwise ops and
 * views become one kernel, reductions and contractions read fused prologues, and the
 * elementwise ops after a contraction run in its kernel as an epilogue.
 * @module
 */
import { type Eqn, Graph, Var } from '../core/ir.js';
import { DTypeError, FluxionError } from '../core/errors.js';
import { avalString } from '../core/array.js';
import { traceToGraph } from '../core/staging.js';
import { bind1 } from '../core/trace.js';
import * as lax from '../primitives/index.js';
import { inlineCalls, dce } from '../transforms/passes.js';
import { callP } from '../transforms/jit.js';

/** Emitted as a kernel of its own (kernels/emit.ts has one emitter per such primitive). */
export const isKernel = (e: Eqn): boolean => e.prim.props?.kernel === true;
/** Inlined as index arithmetic into its consumers. */
export const isView = (e: Eqn): boolean => e.prim.props?.view === true;

/** A staged program ready for lowering: calls inlined, every equation supported. */
export function prepareGraph(g: Graph): Graph {
  // jit calls and checkpoints are inlined; custom rules only matter to transforms, so their functions
  // are traced and inlined.
  let flat = inlineCalls(g, (e) => e.prim.props?.inline === 'graph');
  if (flat.eqns.some((e) => e.prim.props?.inline === 'function')) {
    const eqns: Eqn[] = [];
    for (const e of flat.eqns) {
      if (e.prim.props?.inline !== 'function') {
        eqns.push(e);
        continue;
      }
      const fun = (e.params as { fun: (...xs: any[]) => any[] }).fun;
      const { graph, consts } = traceToGraph(
        fun,
        e.inputs.map((a) => a.aval),
      );
      if (consts.length)
        throw new FluxionError(`webgpu: ${e.prim.name} closes over arrays; not supported on WebGPU yet`);
      eqns.push({ prim: callP, params: { graph, name: e.prim.name }, inputs: e.inputs, outs: e.outs });
    }
    flat = inlineCalls(new Graph(flat.inVars, eqns, flat.outs), (e) => e.prim === callP);
  }
  if (flat.eqns.some(isLongReduction))
    flat = inlineCalls(
      new Graph(flat.inVars, flat.eqns.flatMap(splitLongReduction), flat.outs),
      (e) => e.prim === callP,
    );
  // float16, bfloat16 and the small integers compute in f32/i32 (kernels/wgsl.ts); float64 has no WGSL type.
  const refuseFloat64 = (where: string) => {
    throw new DTypeError(
      `webgpu: ${where} is float64, which WGSL has no type for; run it on the CPU backend (or in float32)`,
    );
  };
  for (const v of flat.inVars) if (v.aval.dtype === 'float64') refuseFloat64(`an input of ${avalString(v.aval)}`);
  for (const e of flat.eqns)
    for (const v of e.outs)
      if (v.aval.dtype === 'float64') refuseFloat64(`${e.prim.name}'s result ${avalString(v.aval)}`);
  for (const e of flat.eqns) {
    if (!e.prim.wgsl && !isKernel(e) && !isView(e)) {
      throw new FluxionError(
        `webgpu: primitive ${e.prim.name} is not supported on the WebGPU backend yet; run this computation on the ` +
          `CPU backend`,
      );
    }
  }
  return dce(flat);
}

/**
 * Elements one output of a reduction kernel may read. One workgroup reduces each output; past
 * this, a thread's loop runs long enough to come back wrong on some drivers (Mesa's llvmpipe
 * summed 2^22 ones to 131070), so longer reductions are split into partial reductions.
 */
const REDUCTION_CHUNK = 1 << 16;
const isLongReduction = (e: Eqn): boolean => {
  const axes = (e.params as { axes?: number[] }).axes;
  const shape = e.inputs[0]?.aval.shape ?? [];
  return !!e.prim.props?.reduction && !!axes && axes.reduce((n, a) => n * shape[a], 1) > REDUCTION_CHUNK;
};
/**
 * A long reduction as two: the reduced axes moved last and flattened, padded with the
 * reduction's identity to whole chunks, reduced per chunk, then across chunks.
 */
function splitLongReduction(e: Eqn): Eqn[] {
  if (!isLongReduction(e)) return [e];
  const x = e.inputs[0].aval;
  const axes = (e.params as { axes: number[] }).axes;
  const kept = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const count = axes.reduce((n, a) => n * x.shape[a], 1);
  const chunks = Math.ceil(count / REDUCTION_CHUNK);
  const keptShape = kept.map((i) => x.shape[i]);
  const identity = e.prim.props!.reduction!.identity(x.dtype);
  const { graph } = traceToGraph(
    (a) => {
      let y = lax.transpose(a, [...kept, ...axes]);
      y = lax.reshape(y, [...keptShape, count]);
      y = lax.pad(
        y,
        [...kept.map(() => 0), 0],
        [...kept.map(() => 0), chunks * REDUCTION_CHUNK - count],
        [...kept.map(() => 0), 0],
        identity,
      );
      y = lax.reshape(y, [...keptShape, chunks, REDUCTION_CHUNK]);
      y = bind1(e.prim, [y], { axes: [kept.length + 1] });
      return [bind1(e.prim, [y], { axes: [kept.length] })];
    },
    [x],
  );
  return [{ prim: callP, params: { graph, name: e.prim.name }, inputs: e.inputs, outs: e.outs }];
}

/**
 * Which variables get buffers: graph inputs and outputs, kernel-primitive results, and values
 * whose recomputation would cost more than a buffer. A value's inline cost counts the
 * elementwise ops and views it would repeat; it is materialised when read by a contraction
 * (which rereads every element many times) and costs more than a view, or when its consumers
 * would repeat more than MAX_REPEAT ops between them.
 */
export function materialised(g: Graph, forced: Set<number> = new Set()): Set<number> {
  const MAX_REPEAT = 6;
  const consumers = new Map<number, Eqn[]>();
  for (const e of g.eqns)
    for (const v of new Set(e.inputs.filter((a): a is Var => a instanceof Var)))
      consumers.set(v.id, [...(consumers.get(v.id) ?? []), e]);
  const out = new Set<number>([...forced, ...g.inVars.map((v) => v.id)]);
  for (const a of g.outs) if (a instanceof Var) out.add(a.id);
  for (const e of g.eqns)
    if (e.prim.props?.operandsInBuffers) for (const a of e.inputs) if (a instanceof Var) out.add(a.id);
  const cost = new Map<number, number>();
  for (const e of g.eqns) {
    const own = isView(e) ? 0 : 1;
    const c = own + e.inputs.reduce((s, a) => s + (a instanceof Var && !out.has(a.id) ? (cost.get(a.id) ?? 0) : 0), 0);
    for (const v of e.outs) {
      cost.set(v.id, c);
      const users = consumers.get(v.id) ?? [];
      if (isKernel(e)) out.add(v.id);
      else if (c > 0 && users.some((u) => u.prim === lax.dotGeneralP)) out.add(v.id);
      else if (c * (users.length - 1) > MAX_REPEAT) out.add(v.id);
    }
  }
  return out;
}

/** An epilogue region: elementwise ops after a contraction, computed in its kernel. */
export interface Epilogue {
  dot: Eqn;
  /** Region values read outside the region (written by the fused kernel), in program order. */
  sinks: Var[];
  /** The region's last equation: the fused kernel takes its place in the kernel order. */
  last: Eqn;
  eqns: Set<Eqn>;
}

/**
 * Epilogue fusion: the elementwise ops that follow a contraction (bias add, activation, the
 * activation's mask, ...) run in its kernel on the accumulator; only the values read outside
 * that region get buffers. Updates `mat` and returns the regions by their last equation.
 */
export function epilogues(g: Graph, mat: Set<number>): Map<Eqn, Epilogue> {
  const consumers = new Map<number, Eqn[]>();
  for (const e of g.eqns)
    for (const v of new Set(e.inputs.filter((a): a is Var => a instanceof Var)))
      consumers.set(v.id, [...(consumers.get(v.id) ?? []), e]);
  const position = new Map(g.eqns.map((e, i) => [e, i] as const));
  const regions = new Map<Eqn, Epilogue>();
  const taken = new Set<Eqn>();
  for (const d of g.eqns) {
    if (d.prim !== lax.dotGeneralP) continue;
    const v0 = d.outs[0];
    const shape = v0.aval.shape.join();
    // Grow the region in program order: elementwise, same shape, reading only region values or values
    // independent of the dot.
    const inRegion = new Set<number>([v0.id]);
    const dependent = new Set<number>([v0.id]);
    const eqns = new Set<Eqn>();
    for (let i = position.get(d)! + 1; i < g.eqns.length; i++) {
      const e = g.eqns[i];
      const vars = e.inputs.filter((a): a is Var => a instanceof Var);
      if (!vars.some((v) => dependent.has(v.id))) continue;
      const joins =
        !taken.has(e) &&
        e.prim.wgsl &&
        e.outs.length === 1 &&
        e.outs[0].aval.shape.join() === shape &&
        vars.every((v) => inRegion.has(v.id) || !dependent.has(v.id));
      for (const o of e.outs) dependent.add(o.id);
      if (joins) {
        eqns.add(e);
        inRegion.add(e.outs[0].id);
      }
    }
    if (!eqns.size) continue;
    const last = [...eqns].reduce((a, b) => (position.get(a)! > position.get(b)! ? a : b));
    const regionVars = [v0, ...[...eqns].map((e) => e.outs[0])];
    const outside = (v: Var) => (consumers.get(v.id) ?? []).filter((c) => !eqns.has(c));
    const sinks = regionVars.filter((v) => g.outs.includes(v) || outside(v).length > 0);
    // Every outside reader must come after the fused kernel, which takes the last region equation's place.
    if (!sinks.length || sinks.some((v) => outside(v).some((c) => position.get(c)! < position.get(last)!))) continue;
    for (const v of regionVars) mat.delete(v.id);
    for (const v of sinks) mat.add(v.id);
    eqns.forEach((e) => taken.add(e));
    regions.set(last, { dot: d, sinks, last, eqns });
  }
  return regions;
}

/** Text of a kernel plan, for debugging: one line per kernel with what fused into it. */
export function describePlan(kernels: { name: string; fused: string[]; reads: number; n: number }[]): string {
  return kernels
    .map((k, i) => `kernel ${i}: ${k.name} [${k.n} threads, ${k.reads} buffers read] fuses ${k.fused.join(' ') || '-'}`)
    .join('\n');
}
