/**
 * Backend choice. The CPU backend is always present: jitted graphs run on ONNX Runtime when
 * `onnxruntime-node` loads (else, or with `FLUXION_CPU=js`, on the JavaScript kernels; in browsers
 * on ONNX Runtime Web once initialised), eager operations on the JavaScript kernels except large
 * contractions and reductions. The WebGPU backend runs operations on arrays placed on it
 * (`toDevice`), `jit` calls given such arrays or `device: 'webgpu'`, and
 * every `jit` call when it is the default (`await setDefaultBackend('webgpu')` or
 * `FLUXION_BACKEND=webgpu`). Arrays on different backends never mix silently: moving is explicit.
 * @module
 */
import { Array, ConcreteArray, avalString, weakConstants } from '../core/array.js';
import { FluxionError, ValueError } from '../core/errors.js';
import { installBackend } from '../core/trace.js';
import { installGraphRunner } from '../core/staging.js';
import { installPlacement } from '../distributed/pmap.js';
import {
  GpuArray,
  download,
  initWebGPU,
  probeWebGPU,
  runGraph,
  runPrimitive,
  upload,
  compile,
  webgpuMemoryStats,
  webgpuPoolStats,
} from './webgpu.js';
import { Graph } from '../core/ir.js';
import type { Params, Primitive } from '../core/primitive.js';
import { type Device, type Executable, type GraphBackend, jsBackend, passedOnce } from './backend.js';
import { onnxBackend } from './onnx.js';
import { setCompilationCache } from './cache.js';
import { recycle } from './ort-capi.js';
import { PendingArray, initOnnxRuntimeWeb, onnxWebReady, webCpu } from './onnx-web.js';
import { keepFreedMemory } from './malloc.js';

/** A backend name. @category Backends */
export type BackendName = 'cpu' | 'webgpu';
// Before the first large buffer: see keepFreedMemory.
keepFreedMemory();

let defaultBackend: BackendName = 'cpu';

let cpuBackend: GraphBackend | undefined;
/** The CPU graph backend: ONNX Runtime when it loads, else the JavaScript kernels (chosen on first use). */
const cpuGraphBackend = (): GraphBackend => (cpuBackend ??= onnxBackend() ?? jsBackend);

/**
 * Chooses how jitted graphs run on the CPU: `'onnx'` (ONNX Runtime, the default where it loads)
 * or `'js'` (the JavaScript kernels), e.g. to compare them. Returns the previous choice.
 * @example
 * const previous = setCpuBackend('js');
 * const slow = jit(step)(params, x); // the JavaScript kernels
 * setCpuBackend(previous);
 * @category Backends
 */
export function setCpuBackend(name: 'onnx' | 'js'): 'onnx' | 'js' {
  if (name !== 'onnx' && name !== 'js')
    throw new ValueError(`setCpuBackend: unknown CPU backend '${name}' (onnx or js)`);
  const previous = cpuGraphBackend().name;
  const chosen = name === 'js' ? jsBackend : onnxBackend();
  if (!chosen) throw new FluxionError('setCpuBackend: ONNX Runtime is not available here');
  cpuBackend = chosen;
  return previous;
}

/**
 * Which CPU graph backend jit uses: `'onnx'` (ONNX Runtime) or `'js'`. @example getCpuBackend() //
 * 'onnx' @category Backends
 */
export const getCpuBackend = (): 'onnx' | 'js' => cpuGraphBackend().name;

const executables = { onnx: new WeakMap<Graph, Executable>(), js: new WeakMap<Graph, Executable>() };
/**
 * Each graph compiles once per CPU backend (jit caches its graphs, so this is once per cache entry),
 * and once per set of `constants`: the values of its leading inputs (see {@link bakedConstants}).
 */
function executableFor(g: Graph, constants: readonly Array[] = []): Executable {
  const backend = cpuGraphBackend();
  const baked = bakedConstants(g, constants);
  if (baked) {
    let x = baked.variants.get(baked.key);
    if (!x) baked.variants.set(baked.key, (x = backend.compile(g, baked.values)));
    return x;
  }
  let x = executables[backend.name].get(g);
  if (!x) executables[backend.name].set(g, (x = backend.compile(g)));
  return x;
}

/**
 * The arrays a jitted function closed over or made (its constants, its graph's leading inputs) are
 * the same at every call: ONNX Runtime gets them as initializers, so its optimiser treats them as it
 * treats the weights of an exported model (batch norm folded into convolutions, filters reordered
 * once, not at every call). Closing over weights is then how to compile for inference, as in JAX;
 * passing them as arguments keeps one program for all their values. A graph compiles once per set
 * of constants, for at most {@link BAKED_VARIANTS} sets and {@link BAKED_BYTES} bytes of them;
 * beyond, they are fed as inputs.
 */
function bakedConstants(g: Graph, constants: readonly Array[]) {
  if (cpuGraphBackend().name !== 'onnx') return null;
  const positions = constants.flatMap((a, i) => (a instanceof ConcreteArray && a.ndim > 0 ? [i] : []));
  if (!positions.length || positions.reduce((n, i) => n + constants[i].size * 4, 0) > BAKED_BYTES) return null;
  let variants = bakedVariants.get(g);
  if (!variants) bakedVariants.set(g, (variants = new Map()));
  const key = positions.map((i) => `${i}:${constantId(constants[i])}`).join(',');
  if (!variants.has(key) && variants.size >= BAKED_VARIANTS) return null;
  return { variants, key, values: new Map(positions.map((i) => [i, constants[i] as ConcreteArray])) };
}
const BAKED_VARIANTS = 4;
const BAKED_BYTES = 256 * 2 ** 20;
const bakedVariants = new WeakMap<Graph, Map<string, Executable>>();
const constantIds = new WeakMap<Array, number>();
let lastConstantId = 0;
const constantId = (a: Array): number => {
  let id = constantIds.get(a);
  if (id === undefined) constantIds.set(a, (id = ++lastConstantId));
  return id;
};
installGraphRunner((g, args) => executableFor(g).run(args));

/** Eager operations this large (elements read and written) run as one-equation graphs on the CPU graph backend. */
const NATIVE_EAGER_ELEMENTS = 1 << 16;
const eagerGraphs = new Map<string, Graph>();
function eagerOnGraphBackend(prim: Primitive, args: Array[], params: Params): Array[] | null {
  if (!prim.props?.kernel || !prim.onnx || !args.every((a) => a instanceof ConcreteArray)) return null;
  if (args.reduce((n, a) => n + a.size, 0) < NATIVE_EAGER_ELEMENTS || cpuGraphBackend() === jsBackend) return null;
  const key = `${prim.name}${JSON.stringify(params)}${args.map((a) => avalString(a.aval))}`;
  let g = eagerGraphs.get(key);
  if (!g) {
    eagerGraphs.set(
      key,
      (g = Graph.ofEquation(
        prim,
        args.map((a) => a.aval),
        params,
      )),
    );
  }
  return executableFor(g).run(args as ConcreteArray[]);
}

/**
 * The backends available here (WebGPU only if an adapter exists), best first. Listing them does
 * not start Dawn in this process (see `probeWebGPU`); using WebGPU does.
 * @category Backends
 */
export async function devices(): Promise<{ name: BackendName; description: string }[]> {
  const g = await probeWebGPU();
  const onCpu = {
    name: 'cpu' as const,
    description: cpuGraphBackend().name === 'onnx' ? 'ONNX Runtime (native CPU kernels)' : 'JavaScript CPU kernels',
  };
  if (!g) return [onCpu];
  const onGpu = { name: 'webgpu' as const, description: g.adapterInfo + (g.software ? ' (software)' : '') };
  return g.software ? [onCpu, onGpu] : [onGpu, onCpu];
}

/** Makes jit calls run on a backend by default (their CPU array arguments are uploaded). @category Backends */
export async function setDefaultBackend(name: BackendName): Promise<void> {
  if (name !== 'cpu' && name !== 'webgpu')
    throw new ValueError(`setDefaultBackend: unknown backend '${name}' (cpu or webgpu)`);
  if (name === 'webgpu' && !(await initWebGPU()))
    throw new FluxionError('setDefaultBackend: no WebGPU adapter is available here');
  defaultBackend = name;
}
/** The current default backend. @category Backends */
export const getDefaultBackend = (): BackendName => defaultBackend;

/** Moves an array to a backend (GPU to CPU is asynchronous). @category Backends */
export async function toDevice(x: Array, name: BackendName): Promise<Array> {
  if (name === 'webgpu') {
    if (x instanceof GpuArray) return x;
    await initWebGPU();
    const c = x.toConcrete();
    if (!c) throw new FluxionError('toDevice: cannot move a traced array');
    return upload(c);
  }
  if (x instanceof PendingArray) return x.value;
  return x instanceof GpuArray ? download(x) : x;
}

/** The kernel plan of a graph on WebGPU (what fused into each kernel), for debugging. @category Backends */
export const kernelPlan = (g: Graph): string => compile(g).plan;

/**
 * How a graph runs on the CPU: ONNX Runtime sessions and the equations run in JavaScript between
 * them; with `constants`, the values of its leading inputs built in, as jit builds in the arrays a
 * function closes over.
 * @example console.log(executionPlan(makeGraph(step)(params, x)))
 * @category Backends
 */
export const executionPlan = (g: Graph, constants: readonly Array[] = []): string => executableFor(g, constants).plan;

/**
 * The CPU: jitted graphs on the CPU graph backend, large eager kernels there too, the rest on the
 * primitives' own kernels.
 */
const cpu: Device = {
  name: 'cpu',
  holds: (x) => x instanceof ConcreteArray,
  place: (x) => x,
  runGraph: (g, args, donate = [], consts = 0) => {
    const results = executableFor(g, args.slice(0, consts)).run(args as ConcreteArray[], donate);
    if (donate.length) donateArguments(args as ConcreteArray[], donate, results);
    return results;
  },
  runPrimitive: eagerOnGraphBackend,
};
/**
 * Donated arguments become unusable (as in JAX), and the memory that no one else can see (outputs
 * of an earlier call, never viewed or reshaped) goes to outputs of its size: in the call itself
 * where the program has read the argument before it writes that output (the executable decides),
 * else in the next call. A training step that donates its state updates the optimizer's moments in
 * place and writes the next parameters into the last ones' memory. An argument also returned, or
 * passed twice, is left alone.
 */
function donateArguments(args: readonly ConcreteArray[], donate: readonly number[], results: readonly Array[]): void {
  const kept = new Set<Array>(results);
  const once = passedOnce(args);
  const freed = donate.flatMap((i) => {
    const x = args[i];
    if (kept.has(x) || !once.has(x)) return [];
    const buffer = x.donate();
    return buffer ? [buffer] : [];
  });
  recycle(freed);
}
const webgpu: Device = {
  name: 'webgpu',
  holds: (x) => x instanceof GpuArray,
  place: (x) => upload(x),
  runGraph: (g, args, donate) => runGraph(g, args, donate),
  runPrimitive,
};
/**
 * Devices that hold arrays of their own; the CPU's is ONNX Runtime Web's pending arrays in a browser
 * that initialised it.
 */
const holders: Device[] = [webgpu, webCpu];
const cpuDevice = (): Device => (onnxWebReady() ? webCpu : cpu);

// An operation runs where its operands live; a jit call runs on its `device` option or the default
// backend (its CPU array inputs are placed there). Eager operations on CPU arrays stay on the CPU.
// Mixing non-scalar CPU arrays into work on another device is an error.
// A constant is uploaded once per device, not at every call of its program.
const placedConstants = new WeakMap<Array, Map<string, Array>>();
function placedConstant(device: Device, a: ConcreteArray): Array {
  let byDevice = placedConstants.get(a);
  if (!byDevice) placedConstants.set(a, (byDevice = new Map()));
  let placed = byDevice.get(device.name);
  if (!placed) byDevice.set(device.name, (placed = device.place(a)));
  return placed;
}

installBackend((prim, args, params) => {
  const call = prim.props?.staged
    ? (params as { graph: Graph; name: string; device?: BackendName; donate?: number[]; consts?: number })
    : null;
  const holder = holders.find((d) => args.some((a) => d.holds(a)));
  // An explicit device binds; the default only draws CPU arrays away from the CPU.
  const wanted = call?.device ?? (call && defaultBackend !== 'cpu' ? defaultBackend : undefined);
  const want = wanted === 'webgpu' ? webgpu : wanted === 'cpu' ? cpuDevice() : undefined;
  if (want?.name === 'cpu' && holder && holder.name !== 'cpu')
    throw new FluxionError(
      `${call!.name}: jit with device 'cpu' got ${holder.name} arrays; move them with await toDevice(x, 'cpu')`,
    );
  const device = holder ?? want ?? (call ? cpuDevice() : cpu);
  const placed =
    device.name === 'cpu'
      ? args
      : args.map((a) => {
          if (device.holds(a) || !(a instanceof ConcreteArray) || a.ndim === 0) return a;
          if (weakConstants.has(a)) return placedConstant(device, a);
          if (want === device) return device.place(a);
          throw new FluxionError(
            `${prim.name}: mixes a cpu array (shape [${a.shape}]) with ${device.name} arrays; move it with await ` +
              `toDevice(x, '${device.name}')`,
          );
        });
  return call
    ? device.runGraph(call.graph, placed, call.donate, call.consts)
    : device.runPrimitive(prim, placed, params);
});

// distributed.allReduce returns WebGPU leaves to the GPU.
installPlacement((like, value) => (like instanceof GpuArray ? upload(value) : value));

if (typeof process !== 'undefined' && process.env?.FLUXION_BACKEND) {
  const b = process.env.FLUXION_BACKEND as BackendName;
  if (b === 'webgpu') await setDefaultBackend('webgpu');
  else if (b !== 'cpu') throw new ValueError(`FLUXION_BACKEND=${b} is not a backend (cpu or webgpu)`);
}

export { setCompilationCache };
export { GpuArray, initWebGPU, probeWebGPU, webgpuMemoryStats, webgpuPoolStats, PendingArray, initOnnxRuntimeWeb };
