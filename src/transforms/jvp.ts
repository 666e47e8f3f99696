/**
 * Forward-mode differentiation: each value carries a tangent; primitives apply their jvp rules.
 * @module
 */
import { Array, ConcreteArray, type ShapedArray } from '../core/array.js';
import { isFloat } from '../core/dtype.js';
import { TraceError, ValueError } from '../core/errors.js';
import { type Params, type Primitive, symbolicZeros } from '../core/primitive.js';
import { shapesEqual } from '../core/shape.js';
import { Trace, Tracer, bind, withMainTrace } from '../core/trace.js';
import { zerosLike } from '../primitives/index.js';
import { unflatten, structuresEqual, structureString } from '../tree.js';
import { flatFn, flattenArgs } from './flat.js';

/** A zero tangent for `x`, marked as symbolically zero. */
function zeroTangent(x: ShapedArray): Array {
  const z = zerosLike(x);
  symbolicZeros.add(z);
  return z;
}

class JVPTracer extends Tracer {
  constructor(
    readonly trace: JVPTrace,
    readonly primal: Array,
    readonly tangent: Array,
  ) {
    super();
  }
  get aval(): ShapedArray {
    return this.primal.aval;
  }
  // The primal is known during forward-mode, so value-dependent JS code still works (as in JAX).
  override toConcrete(): ConcreteArray | null {
    return this.primal.toConcrete();
  }
}

class JVPTrace extends Trace {
  readonly transform = 'grad/jvp';
  pure(x: Array): Array {
    return new JVPTracer(this, x, zeroTangent(x));
  }
  lift(x: Tracer): Array {
    return this.pure(x);
  }
  processPrimitive(prim: Primitive, args: Array[], params: Params): Array[] {
    const primals = (args as JVPTracer[]).map((t) => t.primal);
    const tangents = (args as JVPTracer[]).map((t) => t.tangent);
    let outs: Array[], touts: Array[];
    if (tangents.every((t) => symbolicZeros.has(t))) {
      // Nothing varies: evaluate the primal only.
      outs = bind(prim, primals, params);
      return outs.map((o) => new JVPTracer(this, o, zeroTangent(o)));
    }
    if (prim.jvp) [outs, touts] = prim.jvp(primals, tangents, params);
    else {
      outs = bind(prim, primals, params);
      if (outs.some((o) => isFloat(o.dtype)))
        throw new TraceError(`jvp: primitive ${prim.name} has no differentiation rule`);
      touts = outs.map((o) => zeroTangent(o));
    }
    // Integer and bool outputs have no tangent: keep them exactly zero.
    return outs.map((o, i) => new JVPTracer(this, o, isFloat(o.dtype) ? touts[i] : zeroTangent(o)));
  }
}

/** jvp on flat lists of arrays: the building block other transforms use. */
export function jvpFlat(fn: (...xs: Array[]) => Array[], primals: Array[], tangents: Array[]): [Array[], Array[]] {
  return withMainTrace(
    (m) => new JVPTrace(m),
    null,
    (main) => {
      const trace = main.trace as JVPTrace;
      const ins = primals.map((p, i) => new JVPTracer(trace, p, tangents[i]));
      const outs = fn(...ins).map((o) =>
        o instanceof JVPTracer && o.trace.main === main ? o : (trace.pure(o) as JVPTracer),
      );
      return [outs.map((o) => o.primal), outs.map((o) => o.tangent)];
    },
  );
}

/**
 * Forward-mode Jacobian-vector product: evaluates `f(...primals)` and its directional
 * derivative along `tangents` (same tree structure, shapes and dtypes as `primals`).
 * @example
 * const [y, yDot] = jvp(np.sin, [x], [np.onesLike(x)]); // yDot = cos(x)
 * @category Transforms
 */
export function jvp<F extends (...args: any[]) => any>(
  f: F,
  primals: Parameters<F>,
  tangents: Parameters<F>,
): [ReturnType<F>, ReturnType<F>] {
  const [ps, pDef] = flattenArgs(primals);
  const [ts, tDef] = flattenArgs(tangents);
  if (!structuresEqual(pDef, tDef))
    throw new ValueError(`jvp: tangents have structure ${structureString(tDef)} but primals ${structureString(pDef)}`);
  ps.forEach((p, i) => {
    if (!shapesEqual(p.shape, ts[i].shape) || p.dtype !== ts[i].dtype) {
      throw new ValueError(
        `jvp: tangent ${i} is ${ts[i].dtype}[${ts[i].shape}] but its primal is ${p.dtype}[${p.shape}]`,
      );
    }
  });
  const { fn, outDef } = flatFn(f, pDef);
  const [outs, touts] = jvpFlat(fn, ps, ts);
  return [unflatten(outDef(), outs), unflatten(outDef(), touts)];
}
