/**
 * Browsers: jitted CPU graphs on ONNX Runtime Web (WebAssembly, SIMD; threads where the page is
 * cross-origin isolated). Its sessions only run asynchronously, so results are
 * {@link PendingArray}s: read them with `await x.data()`; operations on them chain without waiting.
 * The page passes its own `onnxruntime-web` module to {@link initOnnxRuntimeWeb}, so bundlers and
 * the WebAssembly files stay under the page's control.
 * @module
 */
import { Array, ConcreteArray, type ShapedArray, avalString } from '../core/array.js';
import type { TypedArray } from '../core/dtype.js';
import { FluxionError } from '../core/errors.js';
import { Graph, Var } from '../core/ir.js';
import type { Params, Primitive } from '../core/primitive.js';
import { interpret } from '../core/staging.js';
import { lowerGraph } from '../onnx/lower.js';
import type { Device } from './backend.js';

/** The parts of the `onnxruntime-web` module Fluxion uses. @category Backends */
export interface OnnxRuntimeWeb {
  InferenceSession: { create(model: Uint8Array, options?: object): Promise<WebSession> };
  Tensor: new (type: string, data: TypedArray, dims: readonly number[]) => unknown;
  env: { wasm: { numThreads?: number } };
}
/** A session of ONNX Runtime Web (the part Fluxion uses). @category Backends */
export interface WebSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown }>>;
}

/**
 * A CPU array that ONNX Runtime Web is still computing. `await x.data()` (or
 * `await toDevice(x, 'cpu')`) reads it; synchronous reads are an error that says so.
 * @category Backends
 */
export class PendingArray extends Array {
  readonly shape: readonly number[];
  readonly dtype: ShapedArray['dtype'];
  constructor(
    aval: ShapedArray,
    /** The value, once computed. */
    readonly value: Promise<ConcreteArray>,
  ) {
    super();
    this.shape = aval.shape;
    this.dtype = aval.dtype;
    value.catch(() => {}); // a failure surfaces where the value is awaited
  }
  toConcrete(): null {
    return null;
  }
  protected override concrete(what: string): never {
    throw new FluxionError(
      `${what}: this ${avalString(this.aval)} array is still being computed by ONNX Runtime Web; ` +
        `use await x.data() or await toDevice(x, 'cpu')`,
    );
  }
  override async data(): Promise<TypedArray> {
    return (await this.value).buffer.slice() as TypedArray;
  }
  override toString(): string {
    return `Pending<${avalString(this.aval)}>`;
  }
}

let ort: OnnxRuntimeWeb | null = null;

/**
 * Runs jitted CPU graphs on ONNX Runtime Web from now on (browsers; Node uses onnxruntime-node
 * by itself). Checks that the runtime loads by running a one-node model.
 * @example
 * import * as ort from 'onnxruntime-web';
 * await initOnnxRuntimeWeb(ort);
 * const g = await jit(grad(loss))(params, x).data();
 * @category Backends
 */
export async function initOnnxRuntimeWeb(runtime: OnnxRuntimeWeb, opts: { numThreads?: number } = {}): Promise<void> {
  if (!runtime?.InferenceSession || !runtime.Tensor)
    throw new FluxionError(
      'initOnnxRuntimeWeb: expected the onnxruntime-web module (import * as ort from "onnxruntime-web")',
    );
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  runtime.env.wasm.numThreads = opts.numThreads ?? (isolated ? (globalThis.navigator?.hardwareConcurrency ?? 1) : 1);
  const v = new Var({ shape: [1], dtype: 'float32' });
  const probe = lowerGraph(new Graph([v], [], [v]));
  await (
    await runtime.InferenceSession.create(probe.bytes)
  ).run({ [probe.inputs[0]]: new runtime.Tensor('float32', new Float32Array(1), [1]) });
  ort = runtime;
}

/** Is ONNX Runtime Web running the CPU's jitted graphs? */
export const onnxWebReady = (): boolean => ort !== null;

const valueOf = (a: Array): Promise<ConcreteArray> | ConcreteArray =>
  a instanceof PendingArray ? a.value : (a as ConcreteArray);
const pending = (avals: ShapedArray[], values: Promise<ConcreteArray[]>) =>
  avals.map(
    (a, i) =>
      new PendingArray(
        a,
        values.then((v) => v[i]),
      ),
  );

type Compiled = { session: WebSession; inputs: string[]; outputs: string[] } | null;
const compiled = new WeakMap<Graph, Promise<Compiled>>();
/**
 * Each graph compiles once into one session; a graph that cannot be lowered (or is refused) runs on
 * the JavaScript kernels.
 */
function compile(g: Graph, rt: OnnxRuntimeWeb): Promise<Compiled> {
  let c = compiled.get(g);
  if (!c) {
    c = (async () => {
      try {
        const m = lowerGraph(g);
        return { session: await rt.InferenceSession.create(m.bytes), inputs: m.inputs, outputs: m.outputs };
      } catch {
        return null;
      }
    })();
    compiled.set(g, c);
  }
  return c;
}

/** Does this graph run as an ONNX Runtime Web session (not on the JavaScript kernels)? For tests and debugging. */
export async function runsOnOnnxRuntimeWeb(g: Graph): Promise<boolean> {
  return ort !== null && (await compile(g, ort)) !== null;
}

async function runWeb(g: Graph, args: Array[], rt: OnnxRuntimeWeb): Promise<ConcreteArray[]> {
  const [c, values] = await Promise.all([compile(g, rt), Promise.all(args.map(valueOf))]);
  if (!c) return interpret(g, values);
  const feeds = Object.fromEntries(
    values.map((x, i) => [c.inputs[i], new rt.Tensor(x.dtype === 'float16' ? 'float32' : x.dtype, x.buffer, x.shape)]),
  );
  const results = await c.session.run(feeds);
  return g.outs.map((o, i) => new ConcreteArray(results[c.outputs[i]].data as TypedArray, o.aval.shape, o.aval.dtype));
}

/** The CPU of a browser page running ONNX Runtime Web: holds pending arrays, chains eager operations on them. */
export const webCpu: Device = {
  name: 'cpu',
  holds: (x) => x instanceof PendingArray,
  place: (x) => x,
  runGraph: (g, args) => pending(g.outAvals, runWeb(g, args, ort!)),
  runPrimitive: (prim: Primitive, args: Array[], params: Params) =>
    pending(
      prim.abstractEval(
        args.map((a) => a.aval),
        params,
      ),
      Promise.all(args.map(valueOf)).then((v) => prim.impl(v, params)),
    ),
};
