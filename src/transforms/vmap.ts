/**
 * Vectorising map: each value carries a batch axis (or none); primitives apply batching rules.
 * @module
 */
import { Array, type ShapedArray } from '../core/array.js';
import { ShapeError, TraceError, ValueError, fmtShape } from '../core/errors.js';
import type { BatchDim, Params, Primitive } from '../core/primitive.js';
import { normAxis } from '../core/shape.js';
import { Trace, Tracer, activeTraces, bind, installCollectiveFloor, withMainTrace } from '../core/trace.js';
import { iota, moveBatchAxis } from '../primitives/views.js';
import { type TreeDef, flatten, structureString, unflatten } from '../tree.js';
import { flatFn, flattenArgs, leafPaths } from './flat.js';

class BatchTracer extends Tracer {
  constructor(
    readonly trace: BatchTrace,
    readonly val: Array,
    readonly bdim: BatchDim,
  ) {
    super();
  }
  get aval(): ShapedArray {
    const a = this.val.aval;
    return this.bdim === null ? a : { shape: a.shape.filter((_, i) => i !== this.bdim), dtype: a.dtype };
  }
  override fullLower(): Array {
    return this.bdim === null ? this.val : this;
  }
}

/** What a vmap maps over: its size and, for collectives, its name. */
interface MappedAxis {
  size: number;
  name?: string;
}
/**
 * The axis name batching rules pass to the vmaps they run on bodies (jit calls, scan, cond): a
 * collective inside a body then still finds the axis it names.
 */
let enclosingName: string | undefined;

class BatchTrace extends Trace {
  readonly transform = 'vmap';
  get axis(): MappedAxis {
    return this.main.global as MappedAxis;
  }
  get axisSize(): number {
    return this.axis.size;
  }
  pure(x: Array): Array {
    return new BatchTracer(this, x, null);
  }
  lift(x: Tracer): Array {
    return new BatchTracer(this, x, null);
  }
  processPrimitive(prim: Primitive, args: Array[], params: Params): Array[] {
    const vals = (args as BatchTracer[]).map((t) => t.val);
    const dims = (args as BatchTracer[]).map((t) => t.bdim);
    const named = this.axis.name !== undefined && (params as { axisName?: string }).axisName === this.axis.name;
    if (prim.collective && named) {
      const [outs, outDims] = prim.collective(vals, dims, params, this.axisSize);
      return outs.map((v, i) => new BatchTracer(this, v, outDims[i]));
    }
    if (dims.every((d) => d === null)) return bind(prim, vals, params).map((v) => new BatchTracer(this, v, null));
    if (!prim.batch) throw new TraceError(`vmap: primitive ${prim.name} has no batching rule`);
    const outer = enclosingName;
    enclosingName = this.axis.name;
    try {
      const [outs, outDims] = prim.batch(vals, dims, params, this.axisSize);
      return outs.map((v, i) => new BatchTracer(this, v, outDims[i]));
    } finally {
      enclosingName = outer;
    }
  }
}

/** vmap on flat lists: inputs batched at `inDims`, outputs moved to `outDims` (null: must be unbatched). */
export function vmapFlat(
  fn: (...xs: Array[]) => Array[],
  axisSize: number,
  vals: Array[],
  inDims: BatchDim[],
  outDims: BatchDim[] | ((n: number) => BatchDim[]),
  axisName: string | undefined = enclosingName,
): Array[] {
  return withMainTrace(
    (m) => new BatchTrace(m),
    { size: axisSize, name: axisName } satisfies MappedAxis,
    (main) => {
      const trace = main.trace as BatchTrace;
      const ins = vals.map((v, i) => (inDims[i] === null ? v : new BatchTracer(trace, v, inDims[i])));
      const outs = fn(...ins);
      const want = typeof outDims === 'function' ? outDims(outs.length) : outDims;
      return outs.map((o, i) => {
        const t = o instanceof BatchTracer && o.trace.main === main ? o : new BatchTracer(trace, o, null);
        const target = want[i];
        if (target === null) {
          if (t.bdim !== null) throw new ValueError(`vmap: output ${i} is batched but outAxes asks for null`);
          return t.val;
        }
        return moveBatchAxis(
          t.val,
          t.bdim,
          normAxis('vmap outAxes', target, t.val.ndim + (t.bdim === null ? 1 : 0)),
          axisSize,
        );
      });
    },
  );
}

/** Batch-axis spec: a number, null (not mapped), or a tree of them matching the arguments. @category Transforms */
export type Axes = number | null | { [k: string]: Axes } | readonly Axes[];

/** Expands an axis spec that is a tree prefix of `def` into one entry per leaf. */
export function expandAxes(spec: Axes, def: TreeDef, what: string): BatchDim[] {
  if (spec === null || typeof spec === 'number') return leafPaths(def).map(() => spec);
  const out: BatchDim[] = [];
  const go = (s: Axes, d: TreeDef, path: string) => {
    if (s === null || typeof s === 'number') {
      for (const _ of leafPaths(d)) out.push(s);
      return;
    }
    const [, sDef] = flatten(s as unknown);
    const kids = d.kind === 'array' ? d.children : d.kind === 'object' ? d.children : null;
    const keys = d.kind === 'object' ? d.keys : d.kind === 'array' ? d.children.map((_, i) => String(i)) : [];
    const sKeys = globalThis.Array.isArray(s) ? s.map((_, i) => String(i)) : Object.keys(s).sort();
    if (!kids || keys.join() !== sKeys.join()) {
      throw new ValueError(
        `vmap: ${what} at ${path} has structure ${structureString(sDef)} but the argument there has ` +
          `${structureString(d)}`,
      );
    }
    keys.forEach((k, i) => go((s as any)[globalThis.Array.isArray(s) ? i : k], kids[i], `${path}[${k}]`));
  };
  go(spec, def, what);
  return out;
}

/** Options of {@link vmap}. @category Transforms */
export interface VmapOptions {
  /** Batch axis of each argument: a number/null for all, or one entry per argument (trees allowed). Default 0. */
  inAxes?: Axes;
  /** Where the batch axis goes in the outputs (number, null, or a tree prefix of the output). Default 0. */
  outAxes?: Axes;
  /** Batch size, needed only when no input is batched. */
  axisSize?: number;
  /** Names the mapped axis for collectives inside (`lax.psum(x, name)`, ...), as in JAX. */
  axisName?: string;
}

/**
 * Each member's index along the innermost mapped axis called `name` (int32, mapped by it), or
 * undefined when none is.
 */
export function mappedIndex(name: string): Array | undefined {
  const traces = activeTraces();
  for (let i = traces.length - 1; i >= 0; i--) {
    const t = traces[i].trace;
    if (t instanceof BatchTrace && t.axis.name === name) return new BatchTracer(t, iota([t.axisSize], 'int32', 0), 0);
  }
  return undefined;
}

// Collectives are processed at least at the vmap that maps the axis they name.
installCollectiveFloor((params) => {
  const name = (params as { axisName?: string }).axisName;
  const traces = activeTraces();
  for (let i = traces.length - 1; i >= 0; i--)
    if (traces[i].trace instanceof BatchTrace && (traces[i].global as MappedAxis).name === name) return traces[i];
  return undefined;
});

/** The size of the innermost mapped axis called `name`, or undefined when none is. */
export function mappedAxisSize(name: string): number | undefined {
  const traces = activeTraces();
  for (let i = traces.length - 1; i >= 0; i--) {
    const g = traces[i].global as MappedAxis | undefined;
    if (traces[i].trace instanceof BatchTrace && g?.name === name) return g.size;
  }
  return undefined;
}

/**
 * Vectorises `f` over a batch axis of its arguments: `vmap(f)(xs)[i] = f(xs[i])`.
 * @example
 * const perExample = vmap(grad(loss), {inAxes: [null, 0, 0]})(params, xs, ys);
 * @category Transforms
 */
export function vmap<F extends (...args: any[]) => any>(f: F, opts: VmapOptions = {}): F {
  return ((...args: any[]) => {
    const [leaves, def] = flattenArgs(args);
    const inAxes = opts.inAxes === undefined ? 0 : opts.inAxes;
    const dims =
      typeof inAxes === 'number' || inAxes === null ? leaves.map(() => inAxes) : expandAxes(inAxes, def, 'inAxes');
    const paths = leafPaths(def);
    let size = opts.axisSize;
    const normDims = dims.map((d, i) => {
      if (d === null) return null;
      const a = normAxis(`vmap (${paths[i]})`, d, leaves[i].ndim);
      const n = leaves[i].shape[a];
      if (size !== undefined && n !== size) {
        throw new ShapeError(
          `vmap: mapped axes disagree in size: ${paths[i]} of shape ${fmtShape(leaves[i].shape)} has ${n} along ` +
            `axis ${a}, others have ${size}`,
        );
      }
      size = n;
      return a;
    });
    if (size === undefined) throw new ValueError('vmap: no argument is mapped (all inAxes are null); pass axisSize');
    const { fn, outDef } = flatFn(f, def);
    const outAxes = opts.outAxes === undefined ? 0 : opts.outAxes;
    const outs = vmapFlat(
      fn,
      size,
      leaves,
      normDims,
      (n) =>
        typeof outAxes === 'number' || outAxes === null
          ? new globalThis.Array(n).fill(outAxes)
          : expandAxes(outAxes, outDef(), 'outAxes'),
      opts.axisName,
    );
    return unflatten(outDef(), outs);
  }) as F;
}
