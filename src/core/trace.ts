/**
 * The tracing core (JAX autodidax): every operation goes through {@link bind}; the innermost
 * active trace decides what it means (evaluate, record, carry a tangent, carry a batch axis).
 * @module
 */
import { Array, ConcreteArray, type ShapedArray, weakConstants } from './array.js';
import { TraceError } from './errors.js';
import type { Params, Primitive } from './primitive.js';

/** One active transform: its nesting level, its Trace and transform-wide data. */
export class MainTrace {
  readonly trace: Trace;
  constructor(
    readonly level: number,
    makeTrace: (main: MainTrace) => Trace,
    readonly global: unknown,
  ) {
    this.trace = makeTrace(this);
  }
}

/** How one kind of transform interprets primitives. */
export abstract class Trace {
  constructor(readonly main: MainTrace) {}
  /** The transform this trace carries out, for messages (`jit`, `grad/jvp`, `vmap`). */
  abstract readonly transform: string;
  /** Boxes a value from outside every transform (a concrete array) into this trace. */
  abstract pure(x: ConcreteArray): Array;
  /** Boxes a tracer of an outer (lower-level) transform into this trace. */
  abstract lift(x: Tracer): Array;
  abstract processPrimitive(prim: Primitive, args: Array[], params: Params): Array[];
}

/** A value inside a transform; has every Array method. */
export abstract class Tracer extends Array {
  abstract readonly trace: Trace;
  abstract override get aval(): ShapedArray;
  get shape() {
    return this.aval.shape;
  }
  get dtype() {
    return this.aval.dtype;
  }
  /** Unboxes to a lower trace's value when this tracer adds nothing (e.g. a zero batch). */
  fullLower(): Array {
    return this;
  }
  toConcrete(): ConcreteArray | null {
    return null;
  }
  override get tracedBy(): string {
    return this.trace.transform;
  }
}

/** A backend that claims primitive applications on its arrays (returns null to decline). */
export type BackendHook = (prim: Primitive, args: Array[], params: Params) => Array[] | null;
let backendHook: BackendHook | null = null;
/** Installs the hook through which non-CPU backends run eager operations and jit calls. */
export function installBackend(hook: BackendHook): void {
  backendHook = hook;
}

class EvalTrace extends Trace {
  readonly transform = 'eager evaluation';
  pure(x: ConcreteArray): Array {
    return x;
  }
  lift(x: Tracer): Array {
    throw new TraceError(`a traced array ${x} escaped its transform and was used outside it`);
  }
  processPrimitive(prim: Primitive, args: Array[], params: Params): Array[] {
    // The shape rule validates operands before any kernel runs, so bad input is an error, not a wrong answer.
    prim.abstractEval(
      args.map((a) => a.aval),
      params,
    );
    const outs = backendHook?.(prim, args, params) ?? prim.impl(args as ConcreteArray[], params);
    markConstants(args, outs);
    ownFresh(args, outs);
    return outs;
  }
}

/**
 * Outputs computed from constants alone (the zeros a rule makes, an iota) are constants too, which
 * backends place where they are used, as JAX moves uncommitted arrays.
 */
function markConstants(args: readonly Array[], outs: readonly Array[]): void {
  if (args.every((a) => weakConstants.has(a) || (a instanceof ConcreteArray && a.ndim === 0)))
    for (const o of outs) if (o instanceof ConcreteArray) weakConstants.add(o);
}

/** A kernel's new outputs hold their memory alone (see {@link ConcreteArray.ownBuffer}): donating them frees it for reuse. */
function ownFresh(args: readonly Array[], outs: readonly Array[]): void {
  const passed = new Set(args); // a jitted call's outputs and arguments number in the thousands
  for (const o of outs) if (o instanceof ConcreteArray && !passed.has(o)) o.ownBuffer();
}

const stack: MainTrace[] = [new MainTrace(0, (m) => new EvalTrace(m), null)];
let dynamic: MainTrace = stack[0];

/** Runs `fn` with a new transform of the given kind pushed on the trace stack. */
export function withMainTrace<T>(
  makeTrace: (main: MainTrace) => Trace,
  global: unknown,
  fn: (main: MainTrace) => T,
): T {
  const main = new MainTrace(stack.length, makeTrace, global);
  stack.push(main);
  try {
    return fn(main);
  } finally {
    stack.pop();
  }
}

/** Makes `main` catch operations on values that belong to no trace (staging, as in jit). */
export function withDynamicTrace<T>(main: MainTrace, fn: () => T): T {
  const prev = dynamic;
  dynamic = main;
  try {
    return fn();
  } finally {
    dynamic = prev;
  }
}

/**
 * Runs `fn` with operations on plain values staged where `anchor` lives: evaluated when it is a
 * plain array, recorded by its trace when it is a tracer, never by the traces opened since. For
 * values that belong outside the program being traced, such as parameters initialised from a
 * key while a model's forward pass is traced for its shapes.
 */
export function stagedWith<T>(anchor: Array, fn: () => T): T {
  return withDynamicTrace(anchor instanceof Tracer ? anchor.trace.main : stack[0], fn);
}

/** The transforms in effect, outermost first (collectives look up the mapped axis they name). */
export const activeTraces = (): readonly MainTrace[] => stack;

function topTrace(args: readonly Array[]): MainTrace {
  let top = dynamic;
  for (const a of args) if (a instanceof Tracer && a.trace.main.level > top.level) top = a.trace.main;
  if (stack[top.level] !== top) {
    throw new TraceError(
      `a traced array from a finished transform (jit, grad or vmap) was used outside it; return values from ` +
        `transformed functions instead of storing them outside`,
    );
  }
  return top;
}

/** Boxes `x` into `trace`, lifting it through the levels in between. */
export function fullRaise(trace: Trace, x: Array): Array {
  if (!(x instanceof Tracer)) return trace.pure(x as ConcreteArray);
  const level = trace.main.level;
  const xMain = x.trace.main;
  if (xMain === trace.main) return x;
  if (xMain.level < level) return trace.lift(x);
  throw new TraceError(
    `a traced array ${x} leaked out of the transform that created it (level ${xMain.level}, now at ${level}); ` +
      `return values from transformed functions instead of storing them outside`,
  );
}

const fullLower = (x: Array): Array => (x instanceof Tracer ? x.fullLower() : x);

/**
 * The trace a collective must reach whatever its operands: the mapped axis it names (installed by
 * vmap). A collective of values that axis does not map still reduces over it, as in JAX.
 */
let collectiveFloor: (params: Params) => MainTrace | undefined = () => undefined;
export const installCollectiveFloor = (f: (params: Params) => MainTrace | undefined): void =>
  void (collectiveFloor = f);

/** Applies a primitive: the one entry point of every operation. */
export function bind(prim: Primitive, args: Array[], params: Params = {}): Array[] {
  let main = topTrace(args);
  const floor = prim.collective ? collectiveFloor(params) : undefined;
  if (floor && floor.level > main.level) main = floor;
  const trace = main.trace;
  const outs = trace.processPrimitive(
    prim,
    args.map((a) => fullRaise(trace, a)),
    params,
  );
  return outs.map(fullLower);
}

/**
 * `compute(args)` when no transform would record an operation on these CPU arrays (an operation on
 * them evaluates now, as `bind` would evaluate it); null otherwise.
 */
export function evaluateNow(
  args: readonly Array[],
  compute: (args: ConcreteArray[]) => ConcreteArray[],
): ConcreteArray[] | null {
  if (!args.every((a) => a instanceof ConcreteArray) || topTrace(args) !== stack[0]) return null;
  const outs = compute(args as ConcreteArray[]);
  markConstants(args, outs);
  ownFresh(args, outs);
  return outs;
}

/** {@link bind} for single-output primitives. */
export const bind1 = (prim: Primitive, args: Array[], params: Params = {}): Array => bind(prim, args, params)[0];
