/// <reference types="@webgpu/types" preserve="true" />
/**
 * The WebGPU backend: device acquisition (Dawn through the `webgpu` package in Node, with
 * the OpenGL ES compatibility path for GPU-less machines; `navigator.gpu` in browsers), GPU
 * arrays, a buffer pool, a pipeline cache keyed by WGSL source, and graph execution from the
 * kernels that compile/ plans. Device errors surface as FluxionErrors naming the kernel.
 * @module
 */
import { Array, ConcreteArray, type ShapedArray, avalString, registerMemoryStats } from '../core/array.js';
import { type DType, type TypedArray, STORAGE, byteSize, computeDType } from '../core/dtype.js';
import { DTypeError, FluxionError } from '../core/errors.js';
import { type Atom, type Eqn, Graph, Lit, Var } from '../core/ir.js';
import { broadcastInDimP, eqP, selectP } from '../primitives/index.js';
import { condP } from '../control/cond.js';
import { scanP } from '../control/scan.js';
import { whileP } from '../control/while.js';
import { inlineCalls } from '../transforms/passes.js';
import type { Params, Primitive } from '../core/primitive.js';
import { sizeOf } from '../core/shape.js';
import { WORKGROUP } from '../../kernels/wgsl.js';
import { type Kernel, lowerGraph } from '../../kernels/emit.js';
import { packKernel, perWord, unpackKernel } from '../../kernels/pack.js';
import { prepareGraph } from '../compile/plan.js';

/** A live WebGPU device with what Fluxion needs to know about it. */
export interface WebGPUDevice {
  device: GPUDevice;
  adapterInfo: string;
  /** True for software adapters (llvmpipe, SwiftShader): correct but slow. */
  software: boolean;
  maxStorageBuffers: number;
  /** The largest buffer one kernel may bind (maxStorageBufferBindingSize, at most maxBufferSize). */
  maxBindingBytes: number;
  /** Matmul tile edge: 16 where 256 invocations per workgroup are allowed, else 8. */
  tile: number;
}

let current: WebGPUDevice | null = null;
// Kept referenced on purpose (see initWebGPU).
/* eslint-disable @typescript-eslint/no-unused-vars -- held so that Dawn is not garbage collected */
let instance: GPU | null = null;
let keptAdapter: GPUAdapter | null = null;
/* eslint-enable @typescript-eslint/no-unused-vars */
const pendingErrors: string[] = [];

/** Acquires (once) a WebGPU device, or returns null where no adapter exists. */
export async function initWebGPU(): Promise<WebGPUDevice | null> {
  if (current) return current;
  let adapter: GPUAdapter | null = null;
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu)
    adapter =
      (await nav.gpu.requestAdapter()) ??
      (await nav.gpu.requestAdapter({ featureLevel: 'compatibility' } as GPURequestAdapterOptions));
  else {
    let mod: typeof import('webgpu');
    try {
      mod = await import('webgpu');
    } catch {
      return null;
    }
    Object.assign(globalThis, mod.globals);
    // FLUXION_WEBGPU_BACKEND picks Dawn's backend (vulkan, opengles, ...). Without it, try the
    // platform default, then OpenGL ES in compatibility mode (Mesa llvmpipe on GPU-less machines).
    const forced = process.env.FLUXION_WEBGPU_BACKEND;
    // The GPU instance must stay referenced: if it is garbage collected, Dawn tears the device down under us.
    if (forced !== 'opengles')
      adapter = await (instance = forced ? mod.create([`backend=${forced}`]) : mod.create([])).requestAdapter();
    if (!adapter && (!forced || forced === 'opengles')) {
      process.env.EGL_PLATFORM ??= 'surfaceless';
      adapter = await (instance = mod.create(['backend=opengles'])).requestAdapter({
        featureLevel: 'compatibility',
      } as GPURequestAdapterOptions);
    }
  }
  if (!adapter) return null;
  keptAdapter = adapter;
  const lim = adapter.limits;
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBuffersPerShaderStage: lim.maxStorageBuffersPerShaderStage,
      maxStorageBufferBindingSize: lim.maxStorageBufferBindingSize,
      maxBufferSize: lim.maxBufferSize,
      maxComputeInvocationsPerWorkgroup: lim.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: lim.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: lim.maxComputeWorkgroupSizeY,
      maxComputeWorkgroupStorageSize: lim.maxComputeWorkgroupStorageSize,
    },
  });
  device.addEventListener('uncapturederror', (ev) => pendingErrors.push((ev as GPUUncapturedErrorEvent).error.message));
  const info = adapter.info;
  const desc =
    [info?.vendor, info?.architecture, info?.device, info?.description].filter(Boolean).join(' ') || 'unknown adapter';
  current = {
    device,
    adapterInfo: desc,
    software:
      /llvmpipe|swiftshader|software/i.test(desc) ||
      (info as { isFallbackAdapter?: boolean })?.isFallbackAdapter === true,
    maxStorageBuffers: lim.maxStorageBuffersPerShaderStage,
    maxBindingBytes: Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize),
    tile: lim.maxComputeInvocationsPerWorkgroup >= 256 ? 16 : 8,
  };
  return current;
}

/**
 * The adapter {@link initWebGPU} would get, without starting Dawn in this process: in Node the
 * probe runs in a child process, so that the driver chatter Dawn prints on stderr (Vulkan and
 * XDG warnings) stays out of runs that end up on the CPU. In browsers, initWebGPU itself.
 */
export async function probeWebGPU(): Promise<{ adapterInfo: string; software: boolean } | null> {
  if (current) return current;
  const proc = (globalThis as { process?: NodeJS.Process }).process;
  const childProcess = proc?.getBuiltinModule?.('node:child_process') as
    typeof import('node:child_process') | undefined;
  if ((globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu || !proc || !childProcess) return initWebGPU();
  const script = [
    `const { initWebGPU } = await import(${JSON.stringify(import.meta.url)});`,
    `const g = await initWebGPU();`,
    `console.log(JSON.stringify(g && { adapterInfo: g.adapterInfo, software: g.software }));`,
    `process.exit(0);`,
  ].join('\n');
  return new Promise((resolve) =>
    childProcess.execFile(
      proc.execPath,
      [...proc.execArgv, '--input-type=module', '-e', script],
      { timeout: 60_000, env: { ...proc.env, FLUXION_BACKEND: '' } },
      (_, stdout) => {
        try {
          resolve(JSON.parse(String(stdout).trim().split('\n').pop() ?? 'null'));
        } catch {
          resolve(null);
        }
      },
    ),
  );
}

/** The device, or an error telling how to get one. */
export function gpu(): WebGPUDevice {
  if (!current)
    throw new FluxionError('webgpu: no device; call await initWebGPU() (or set FLUXION_BACKEND=webgpu) first');
  return current;
}

function checkErrors(): void {
  if (pendingErrors.length) {
    const msgs = pendingErrors.splice(0);
    throw new FluxionError(`webgpu: device error: ${msgs.join('; ')}`);
  }
}

// ---------------------------------------------------------------- buffers

const USAGE = 0x80 | 0x04 | 0x08; // STORAGE | COPY_SRC | COPY_DST
/** Free buffers by size, oldest first, kept for reuse. */
const pool = new Map<number, GPUBuffer[]>();
const live = { buffers: 0, bytes: 0 };
const pooled = { buffers: 0, bytes: 0 };
/**
 * The pool keeps at most as many bytes as are live, or 64 MiB: a training loop reuses the sizes of its
 * working set, and buffers released beyond the limit are destroyed, so memory freed by collection goes
 * back to the driver instead of waiting in the pool forever.
 */
const poolLimit = () => Math.max(64 * 2 ** 20, live.bytes);
const roundUp = (n: number) => Math.ceil(Math.max(n, 4) / 256) * 256;

function acquire(bytes: number): GPUBuffer {
  const size = roundUp(bytes);
  checkBinding(size);
  const free = pool.get(size);
  live.buffers++;
  live.bytes += size;
  if (free?.length) {
    pooled.buffers--;
    pooled.bytes -= size;
    return free.pop()!;
  }
  return gpu().device.createBuffer({ size, usage: USAGE });
}
function release(buf: GPUBuffer): void {
  live.buffers--;
  live.bytes -= buf.size;
  let list = pool.get(buf.size);
  if (!list) pool.set(buf.size, (list = []));
  list.push(buf);
  pooled.buffers++;
  pooled.bytes += buf.size;
  // Over the limit: destroy the sizes that waited longest (Map order: first used first).
  const limit = poolLimit();
  for (const [size, bufs] of pool) {
    if (pooled.bytes <= limit) break;
    while (bufs.length && pooled.bytes > limit) {
      const old = bufs.shift()!;
      inOrder(() => old.destroy());
      pooled.buffers--;
      pooled.bytes -= size;
    }
    if (!bufs.length) pool.delete(size);
  }
}
/** A buffer larger than one binding can be would fail inside the driver; say so at the call. */
function checkBinding(size: number): void {
  const limit = gpu().maxBindingBytes;
  if (size > limit)
    throw new FluxionError(
      `webgpu: an array of ${size} bytes exceeds this device's storage binding limit of ${limit} bytes ` +
        `(maxStorageBufferBindingSize); split the work or run it on the CPU`,
    );
}
const collector = new FinalizationRegistry<GPUBuffer>(release);

/** Live GPU buffers and bytes held by arrays and executables. */
export const webgpuMemoryStats = () => ({ ...live });
/** Free buffers and bytes the pool keeps for reuse (at most the live bytes, or 64 MiB). */
export const webgpuPoolStats = () => ({ ...pooled });
registerMemoryStats('webgpu', webgpuMemoryStats);

/**
 * How a {@link GpuArray}'s elements lie in its buffer. Kernels compute on 32-bit `words` (float16 as f32,
 * int8 as i32, bool as u32); arrays are kept `packed`: 16- and 8-bit dtypes two or four to a word
 * (float16 as its bit pattern), so they take the memory their dtype promises. A graph unpacks
 * packed inputs into words and packs its outputs, each with one small kernel (kernels/pack.ts).
 */
export type GpuLayout = 'packed' | 'words';
/** Bytes per element of a dtype laid out so. */
const bytesPer = (d: DType, layout: GpuLayout): number => (layout === 'words' || d === 'bool' ? 4 : byteSize(d));
const bufferBytes = (shape: readonly number[], d: DType, layout: GpuLayout) => sizeOf(shape) * bytesPer(d, layout);

/** An array whose elements live in a GPU buffer. Read it with `await x.data()`. */
export class GpuArray extends Array {
  #buffer: GPUBuffer | null;
  // GPU memory is invisible to the JS garbage collector; an untouched ArrayBuffer of the same
  // size (virtual memory, never written) makes V8 count it, so dropped arrays get collected.
  #pressure: ArrayBuffer | null;
  readonly device = 'webgpu';
  constructor(
    buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType,
    /** Settles with the device error of the run that made this array or one it was computed from. */
    readonly failure: Promise<string | null> = noFailure,
    /** Packed (what arrays users hold are) or one 32-bit word per element (inside host-driven scans). */
    readonly layout: GpuLayout = 'packed',
  ) {
    super();
    this.#buffer = buffer;
    this.#pressure = new ArrayBuffer(buffer.size);
    collector.register(this, buffer, this);
  }
  get buffer(): GPUBuffer {
    if (!this.#buffer) throw new FluxionError(`array ${avalString(this)} was used after dispose()`);
    return this.#buffer;
  }
  toConcrete(): ConcreteArray | null {
    return null;
  }
  protected override concrete(what: string): ConcreteArray {
    throw new FluxionError(
      `${what}: webgpu arrays are read asynchronously: use await x.data() or await toDevice(x, 'cpu') for ` +
        avalString(this),
    );
  }
  override dataSync(): TypedArray {
    return this.concrete('dataSync').buffer;
  }
  override async data(): Promise<TypedArray> {
    return (await download(this)).buffer.slice() as TypedArray;
  }
  override toString(): string {
    const shape = `(${this.shape.join(', ')}${this.shape.length === 1 ? ',' : ''})`;
    return `Array(<webgpu>, shape=${shape}, dtype=${this.dtype})  // await x.data() to read`;
  }
  override dispose(): void {
    const b = this.donate();
    if (b) release(b);
  }
  /** Gives up the buffer (to be reused by a jit call's outputs); the array becomes unusable. */
  donate(): GPUBuffer | null {
    const b = this.#buffer;
    if (!b) return null;
    collector.unregister(this);
    this.#buffer = null;
    this.#pressure = null;
    return b;
  }
}

/** Copies a CPU array to the GPU. */
export function upload(x: ConcreteArray, layout: GpuLayout = 'packed'): GpuArray {
  if (x.dtype === 'float64')
    throw new DTypeError(
      'webgpu: cannot place a float64 array on the GPU (WGSL has no float64); convert it with astype, or keep it ' +
        'on the CPU backend',
    );
  const buf = acquire(bufferBytes(x.shape, x.dtype, layout));
  const data = deviceData(x, layout);
  if (x.size) inOrder(() => writeData(buf, data));
  return new GpuArray(buf, x.shape, x.dtype, noFailure, layout);
}
/**
 * The bytes of `x` laid out so: packed, the stored elements (float16 bit patterns, int8 bytes);
 * as words, each element a 32-bit word of its compute dtype (float16 as its f32 value).
 */
function deviceData(x: ConcreteArray, layout: GpuLayout): TypedArray {
  if (x.dtype === 'bool') return Uint32Array.from(x.buffer);
  if (layout === 'packed' && bytesPer(x.dtype, layout) < 4) return x.storage;
  return STORAGE[computeDType(x.dtype)].from(x.buffer as ArrayLike<number>);
}
/** Writes `data` at the start of `buf` (a packed tail is padded to whole words, as WebGPU copies words). */
function writeData(buf: GPUBuffer, data: TypedArray): void {
  let bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (bytes.length % 4) {
    const padded = new Uint8Array(Math.ceil(bytes.length / 4) * 4);
    padded.set(bytes);
    bytes = padded;
  }
  gpu().device.queue.writeBuffer(buf, 0, bytes.buffer, bytes.byteOffset, bytes.length);
}

/** Copies a GPU array back to the CPU. */
export async function download(x: GpuArray): Promise<ConcreteArray> {
  const failed = await x.failure;
  if (failed) throw new FluxionError(failed);
  await new Promise<void>((resolve) => inOrder(resolve)); // after the host steps x may wait for
  return readBack(x);
}
/** Reads `x` back with a copy submitted now (callers keep the queue's order). */
async function readBack(x: GpuArray): Promise<ConcreteArray> {
  const { device } = gpu();
  const bytes = bufferBytes(x.shape, x.dtype, x.layout);
  const staging = device.createBuffer({ size: roundUp(bytes), usage: 0x01 | 0x08 }); // MAP_READ | COPY_DST
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(x.buffer, 0, staging, 0, roundUp(bytes));
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(0x01);
  const raw = staging.getMappedRange().slice(0, bytes);
  staging.unmap();
  staging.destroy();
  checkErrors();
  if (x.dtype === 'bool') return new ConcreteArray(Uint8Array.from(new Uint32Array(raw)), x.shape, x.dtype);
  // Packed elements are the array's own storage; words are compute values, rounded into the dtype already.
  const Data = x.layout === 'packed' ? STORAGE[x.dtype] : STORAGE[computeDType(x.dtype)];
  return new ConcreteArray(new Data(raw), x.shape, x.dtype);
}

// ---------------------------------------------------------------- execution

const noFailure: Promise<string | null> = Promise.resolve(null);

/**
 * Host steps in flight (MPI between the device segments of a step) and the device work issued
 * after them. WebGPU reads buffers back only asynchronously, so a host step finishes later than
 * the code that issued it; everything issued behind it (submissions, buffer writes, buffer
 * destruction) waits, in issue order, since its results go to buffers later kernels read and
 * pooled buffers are reused on the assumption that the queue runs in program order.
 */
let hostWork: Promise<void> | null = null;
/** True while queued work runs at the head of {@link hostWork}. */
let atHead = false;
/** Runs `f` now, or once the host steps in flight and the work queued behind them are done. */
function inOrder(f: () => void | Promise<void>): void {
  // A failure is the device's error (reported where arrays are read); the chain goes on.
  const fail = (e: unknown) => void pendingErrors.push((e as Error).message);
  const run = (): void | Promise<void> => {
    try {
      return f()?.catch(fail);
    } catch (e) {
      fail(e);
    }
  };
  if (!hostWork || atHead) {
    const started = run();
    if (!started) return;
    hostWork = hostWork ? hostWork.then(() => started) : started;
  } else
    hostWork = hostWork.then(() => {
      atHead = true;
      try {
        return run();
      } finally {
        atHead = false;
      }
    });
  const mine = hostWork;
  void mine.then(() => {
    if (hostWork === mine) hostWork = null;
  });
}

/**
 * Encodes and submits commands inside error scopes: a validation or out-of-memory error of this
 * submission settles the returned promise with a message naming `what`, which the arrays it made
 * carry, so the error surfaces when they (or arrays computed from them) are read, not at an
 * unrelated array. `after` chains the failures of the inputs.
 */
export function submitScoped(
  what: string,
  encode: (enc: GPUCommandEncoder) => void,
  after: readonly Promise<string | null>[] = [],
): Promise<string | null> {
  if (hostWork && !atHead) return new Promise((resolve) => inOrder(() => resolve(submitScoped(what, encode, after))));
  const { device } = gpu();
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  const enc = device.createCommandEncoder();
  encode(enc);
  device.queue.submit([enc.finish()]);
  const scopes = [device.popErrorScope(), device.popErrorScope()];
  const inherited = after.filter((p) => p !== noFailure);
  return Promise.all([...inherited, ...scopes.map((p) => p.then((e) => e && `webgpu: ${what}: ${e.message}`))]).then(
    (errors) => errors.find((e): e is string => !!e) ?? null,
  );
}

const pipelines = new Map<string, GPUComputePipeline>();
function pipeline(k: { code: string; name: string }): GPUComputePipeline {
  let p = pipelines.get(k.code);
  if (!p) {
    const { device } = gpu();
    const module = device.createShaderModule({ code: k.code, label: k.name });
    p = device.createComputePipeline({
      layout: 'auto',
      compute: { module, entryPoint: 'main' },
      label: `fluxion:${k.name}`,
    });
    pipelines.set(k.code, p);
  }
  return p;
}

/** Dispatches one invocation per element of `n` (2-D past 65535 workgroups). */
function dispatch(pass: GPUComputePassEncoder, n: number): void {
  const groups = Math.ceil(n / WORKGROUP);
  pass.dispatchWorkgroups(Math.min(groups, 65535), Math.ceil(groups / 65535));
}
/** A relayout of `n` elements of dtype `d` from `src` into `dst` (kernels/pack.ts). */
interface Relayout {
  to: GpuLayout;
  dtype: DType;
  n: number;
  src: GPUBuffer;
  dst: GPUBuffer;
}
function encodeRelayout(enc: GPUCommandEncoder, r: Relayout): void {
  if (!r.n) return;
  const code = r.to === 'words' ? unpackKernel(r.dtype, r.n) : packKernel(r.dtype, r.n);
  const p = pipeline({ code, name: `${r.to === 'words' ? 'unpack' : 'pack'}_${r.dtype}` });
  const pass = enc.beginComputePass();
  pass.setPipeline(p);
  const entries = [r.src, r.dst].map((buffer, binding) => ({ binding, resource: { buffer } }));
  pass.setBindGroup(0, gpu().device.createBindGroup({ layout: p.getBindGroupLayout(0), entries }));
  dispatch(pass, r.to === 'words' ? r.n : Math.ceil(r.n / perWord(r.dtype)));
  pass.end();
}
/** Whether arrays of this dtype differ between the layouts (the 16- and 8-bit ones). */
const packs = (d: DType): boolean => bytesPer(d, 'packed') < 4;
/** `x` in the given layout: itself, or a copy made by one relayout kernel. */
export function relayout(x: GpuArray, to: GpuLayout): GpuArray {
  if (x.layout === to || !packs(x.dtype)) return x;
  const dst = acquire(bufferBytes(x.shape, x.dtype, to));
  const r = { to, dtype: x.dtype, n: x.size, src: x.buffer, dst };
  const failure = submitScoped(`${to === 'words' ? 'unpack' : 'pack'} ${x.dtype}`, (enc) => encodeRelayout(enc, r), [
    x.failure,
  ]);
  return new GpuArray(dst, x.shape, x.dtype, failure, to);
}

/** A compiled graph: prepared, lowered, with its plan text. */
export interface Executable {
  graph: Graph;
  kernels: Kernel[];
  plan: string;
}
const executables = new WeakMap<Graph, Executable>();

/** Plans (once per graph) the kernels of a graph. */
export function compile(graph: Graph): Executable {
  let ex = executables.get(graph);
  if (!ex) {
    const prepared = prepareGraph(graph);
    const { kernels, plan } = lowerGraph(prepared, gpu().maxStorageBuffers, gpu().tile);
    executables.set(graph, (ex = { graph: prepared, kernels, plan }));
  }
  return ex;
}

/**
 * Runs a graph on GPU arrays (0-d CPU arrays are accepted as constants). Inputs at the
 * positions in `donate` give their buffers up: once the last kernel reading them is encoded,
 * later kernels may write their outputs there. Outputs come packed, or as words with
 * `layout: 'words'` (host-driven scans copy rows of them).
 */
export function runGraph(
  graph: Graph,
  args: Array[],
  donate: readonly number[] = [],
  layout: GpuLayout = 'packed',
): Array[] {
  const flat = inlineCalls(graph, (e) => e.prim.props?.inline === 'graph');
  if (flat.eqns.some(runsOnHost)) return runSegmented(flat, args, layout);
  const ex = compile(graph);
  const { device } = gpu();
  const bufs = new Map<number, GPUBuffer>();
  const temps: GPUBuffer[] = [];
  // Kernels read words: packed inputs are unpacked first.
  const unpacked: Relayout[] = [];
  ex.graph.inVars.forEach((v, i) => {
    const a = args[i];
    if (!(a instanceof GpuArray)) return void bufs.set(v.id, constantBuffer(a, temps));
    if (a.layout === 'words' || !packs(a.dtype)) return void bufs.set(v.id, a.buffer);
    const dst = acquire(bufferBytes(a.shape, a.dtype, 'words'));
    temps.push(dst);
    unpacked.push({ to: 'words', dtype: a.dtype, n: a.size, src: a.buffer, dst });
    bufs.set(v.id, dst);
  });
  // Donated inputs that are not returned as outputs, with the index of the last kernel reading them.
  // An array passed at several positions is read (or returned) through each of them.
  const lastRead = new Map<number, number>();
  ex.kernels.forEach((k, i) => k.reads.forEach((v) => lastRead.set(v.id, i)));
  const sameArray = (i: number) => ex.graph.inVars.filter((_, k) => args[k] === args[i]);
  const donated = donate
    .filter((i) => args[i] instanceof GpuArray && !sameArray(i).some((v) => ex.graph.outs.includes(v)))
    .map((i) => ({
      last: Math.max(-1, ...sameArray(i).map((v) => lastRead.get(v.id) ?? -1)),
      buffer: (args[i] as GpuArray).donate(),
    }))
    // An array passed twice is donated once.
    .filter((d): d is { last: number; buffer: GPUBuffer } => d.buffer !== null);
  // Buffers are assigned now, while the encoding may wait for host steps in flight.
  const assign = (bytes: number, after: number) => {
    const size = roundUp(bytes);
    const j = donated.findIndex((d) => d.last < after && d.buffer.size === size);
    const b = j >= 0 ? donated.splice(j, 1)[0].buffer : acquire(size); // a donated buffer stays counted as live
    temps.push(b);
    return b;
  };
  ex.kernels.forEach((k, ki) => {
    for (const w of k.writes) bufs.set(w.id, assign(bufferBytes(w.aval.shape, w.aval.dtype, 'words'), ki));
  });
  // Outputs that kernels write in words and arrays keep packed: one pack kernel each, at the end.
  const packed = new Map<number, GPUBuffer>();
  const packing: Relayout[] = [];
  for (const v of ex.graph.outs)
    if (
      v instanceof Var &&
      layout === 'packed' &&
      packs(v.aval.dtype) &&
      !ex.graph.inVars.includes(v) &&
      !packed.has(v.id)
    ) {
      const dst = assign(bufferBytes(v.aval.shape, v.aval.dtype, 'packed'), ex.kernels.length);
      packed.set(v.id, dst);
      packing.push({ to: 'packed', dtype: v.aval.dtype, n: sizeOf(v.aval.shape), src: bufs.get(v.id)!, dst });
    }
  const encodeKernels = (enc: GPUCommandEncoder) => {
    unpacked.forEach((r) => encodeRelayout(enc, r));
    ex.kernels.forEach((k) => {
      if (k.n === 0) return;
      const p = pipeline(k);
      const entries = [...k.reads, ...k.writes].map((v, binding) => ({
        binding,
        resource: { buffer: bufs.get(v.id)! },
      }));
      const pass = enc.beginComputePass();
      pass.setPipeline(p);
      pass.setBindGroup(0, device.createBindGroup({ layout: p.getBindGroupLayout(0), entries }));
      if (k.grid) pass.dispatchWorkgroups(...k.grid);
      else dispatch(pass, k.n);
      pass.end();
    });
    packing.forEach((r) => encodeRelayout(enc, r));
  };
  const names = [...new Set(ex.kernels.map((k) => k.name))];
  const what =
    names.length > 3 ? `${names.slice(0, 3).join(', ')} and ${names.length - 3} more kernels` : names.join(', ');
  const failure = submitScoped(
    what,
    encodeKernels,
    args.map((a) => (a instanceof GpuArray ? a.failure : noFailure)),
  );
  // Outputs become arrays; other temporaries and unused donations go back to the pool (the queue keeps their order).
  // An output listed twice is one array: two arrays owning one buffer would each return it to the pool.
  const made = new Map<number, Array>();
  const outs = ex.graph.outs.map((a) => {
    if (a instanceof Lit) return upload(ConcreteArray.scalar(a.value, a.aval.dtype), layout);
    const k = ex.graph.inVars.indexOf(a);
    if (k >= 0) return args[k] instanceof GpuArray ? args[k] : upload(args[k] as ConcreteArray, layout);
    let out = made.get(a.id);
    if (!out) {
      const b = packed.get(a.id) ?? bufs.get(a.id)!;
      temps.splice(temps.indexOf(b), 1);
      const as: GpuLayout = packs(a.aval.dtype) && !packed.has(a.id) ? 'words' : 'packed';
      made.set(a.id, (out = new GpuArray(b, a.aval.shape, a.aval.dtype, failure, as)));
    }
    return out;
  });
  const seen = new Set<GPUBuffer>();
  for (const t of temps)
    if (!seen.has(t)) {
      seen.add(t);
      release(t);
    }
  for (const d of donated) release(d.buffer);
  return outs;
}

// ---------------------------------------------------------------- control flow, driven from the host

/**
 * Graphs with control flow run as fused straight-line segments between control equations;
 * scan and cond run from the host, their bodies as graphs on the device.
 */
function runSegmented(g: Graph, args: Array[], layout: GpuLayout): Array[] {
  const env = new Map<number, Array>();
  g.inVars.forEach((v, i) => env.set(v.id, args[i]));
  const read = (a: Atom): Array => (a instanceof Lit ? ConcreteArray.scalar(a.value, a.aval.dtype) : env.get(a.id)!);
  // Variables needed at or after each equation index, to know what a segment must output.
  const neededAfter: Set<number>[] = [];
  let need = new Set(g.outs.filter((a): a is Var => a instanceof Var).map((v) => v.id));
  for (let i = g.eqns.length - 1; i >= 0; i--) {
    neededAfter[i] = new Set(need);
    need = new Set([...need, ...g.eqns[i].inputs.filter((a): a is Var => a instanceof Var).map((v) => v.id)]);
  }
  let segment: Eqn[] = [];
  const flush = (end: number) => {
    if (!segment.length) return;
    const defined = new Set(segment.flatMap((e) => e.outs.map((v) => v.id)));
    const ins = [
      ...new Map(
        segment.flatMap((e) =>
          e.inputs.filter((a): a is Var => a instanceof Var && !defined.has(a.id)).map((v) => [v.id, v] as const),
        ),
      ).values(),
    ];
    const outs = segment.flatMap((e) => e.outs).filter((v) => neededAfter[end].has(v.id));
    // Segments hand words to each other; only the graph's outputs are laid out as asked.
    const results = runGraph(new Graph(ins, segment, outs), ins.map(read), [], 'words');
    outs.forEach((v, i) => env.set(v.id, results[i]));
    segment = [];
  };
  g.eqns.forEach((e, i) => {
    if (!runsOnHost(e)) return void segment.push(e);
    flush(i - 1);
    const host = hostControl.get(e.prim);
    const outs = host ? host(e.inputs.map(read), e.params) : runHostStep(e, e.inputs.map(read));
    e.outs.forEach((v, k) => env.set(v.id, outs[k]));
  });
  flush(g.eqns.length - 1);
  return g.outs.map((a) => {
    const x = read(a);
    return x instanceof GpuArray ? relayout(x, layout) : x;
  });
}

const onDevice = (x: Array, layout: GpuLayout = 'packed'): GpuArray =>
  x instanceof GpuArray ? relayout(x, layout) : upload(x.toConcrete()!, layout);

/** Copies row `t` of `xs` (leading axis) into a new array, or writes `y` into row `t` of `into` (both in words). */
function copyRow(src: GpuArray, srcOffset: number, dst: GpuArray, dstOffset: number, bytes: number): GpuArray {
  if (!bytes) return dst;
  if (packs(src.dtype) && (src.layout === 'packed' || dst.layout === 'packed'))
    throw new FluxionError('webgpu: scan copies rows of arrays in words only');
  if (src.buffer === dst.buffer) throw new FluxionError('webgpu: scan copies a row within one buffer (aliasing)');
  const failure = submitScoped(
    'scan row copy',
    (enc) => enc.copyBufferToBuffer(src.buffer, srcOffset, dst.buffer, dstOffset, bytes),
    [src.failure, dst.failure],
  );
  return new GpuArray(dst.donate()!, dst.shape, dst.dtype, failure, dst.layout);
}

const hostRules: Record<string, (inputs: Array[], params: any) => Array[]> = {
  // scan: slices and stacks with buffer copies, the body as a device graph per step.
  scan(
    inputs,
    {
      body,
      numConsts: nc,
      numCarry: nk,
      length,
      reverse,
    }: { body: Graph; numConsts: number; numCarry: number; length: number; reverse: boolean },
  ) {
    const consts = inputs.slice(0, nc);
    let carry = inputs.slice(nc, nc + nk);
    // Rows are whole words apart in the words layout; the packed results are made once, at the end.
    const xs = inputs.slice(nc + nk).map((x) => onDevice(x, 'words'));
    const yAvals = body.outAvals.slice(nk);
    let ys = yAvals.map((a) => {
      const buffer = acquire(length * bufferBytes(a.shape, a.dtype, 'words'));
      return new GpuArray(buffer, [length, ...a.shape], a.dtype, noFailure, 'words');
    });
    for (let k = 0; k < length; k++) {
      const t = reverse ? length - 1 - k : k;
      const xt = xs.map((x) => {
        const row = x.shape.slice(1),
          bytes = bufferBytes(row, x.dtype, 'words');
        return copyRow(x, t * bytes, new GpuArray(acquire(bytes), row, x.dtype, noFailure, 'words'), 0, bytes);
      });
      const outs = runGraph(body, [...consts, ...carry, ...xt], [], 'words');
      carry = outs.slice(0, nk);
      ys = outs.slice(nk).map((y, i) => {
        const bytes = bufferBytes(yAvals[i].shape, yAvals[i].dtype, 'words');
        return copyRow(onDevice(y, 'words'), 0, ys[i], t * bytes, bytes);
      });
    }
    return [...carry, ...ys];
  },
  // cond: the index stays on the device, so every branch runs and the result is selected.
  cond([index, ...ops], { branches }: { branches: Graph[] }) {
    const results = branches.map((b) => runGraph(b, ops));
    return results[0].map((_, k) => {
      let acc = results[0][k];
      for (let i = 1; i < branches.length; i++) {
        const out = acc.aval;
        const hit = runPrimitive(
          eqP,
          [index, ConcreteArray.scalar(i, 'int32')].map((x) =>
            x instanceof GpuArray ? x : upload(x as ConcreteArray),
          ),
          {},
        )[0];
        const mask = runPrimitive(broadcastInDimP, [hit], { shape: [...out.shape], dims: [] })[0];
        acc = runPrimitive(selectP, [mask, onDevice(results[i][k]), onDevice(acc)], {})[0];
      }
      return acc;
    });
  },
  while() {
    throw new FluxionError(
      'webgpu: whileLoop needs its predicate on the host every step, which WebGPU only gives asynchronously; run it ' +
        'on the CPU backend or use lax.scan / lax.fori with static bounds',
    );
  },
};
/**
 * Whether WebGPU runs this equation from the host: control flow whose steps are device graphs, and
 * primitives that compute on the host only (MPI's collectives).
 */
export const runsOnHost = (e: { prim: Primitive }): boolean => hostControl.has(e.prim) || e.prim.props?.host === true;

/**
 * A host-only equation between device segments: its operands are read back, `impl` runs (MPI) and
 * the results are written to buffers allocated now, so the device work issued after it can be
 * encoded against them; that work waits for the step (see {@link inOrder}).
 */
function runHostStep(e: Eqn, inputs: Array[]): Array[] {
  let settle!: (failure: string | null) => void;
  const failure = new Promise<string | null>((resolve) => (settle = resolve));
  const buffers = e.outs.map((v) => acquire(bufferBytes(v.aval.shape, v.aval.dtype, 'packed')));
  inOrder(async () => {
    try {
      const known = await Promise.all(
        inputs.map(async (x) => {
          if (!(x instanceof GpuArray)) return x.toConcrete()!;
          const failed = await x.failure;
          if (failed) throw new FluxionError(failed);
          return readBack(x);
        }),
      );
      e.prim.impl(known, e.params).forEach((r, k) => {
        const c = r.toConcrete()!;
        if (c.size) writeData(buffers[k], deviceData(c, 'packed'));
      });
      settle(null);
    } catch (err) {
      settle(`webgpu: ${e.prim.name} (run on the host): ${(err as Error).message}`);
    }
  });
  return e.outs.map((v, k) => new GpuArray(buffers[k], v.aval.shape, v.aval.dtype, failure));
}

/** Host rules by primitive object: control flow whose steps run as device graphs. */
const hostControl = new Map<Primitive, (inputs: Array[], params: any) => Array[]>([
  [scanP, hostRules.scan],
  [condP, hostRules.cond],
  [whileP, hostRules.while],
]);

function constantBuffer(a: Array, temps: GPUBuffer[]): GPUBuffer {
  const c = a.toConcrete();
  if (!c || c.ndim !== 0)
    throw new FluxionError(
      `webgpu: a ${avalString(a)} CPU array was mixed with WebGPU arrays; move it explicitly with toDevice(x, ` +
        `'webgpu')`,
    );
  // The temporary array gives its buffer up: the pool gets it back once, at the end of the run, not
  // again when the array is collected.
  const buffer = upload(c, 'words').donate()!;
  temps.push(buffer);
  return buffer;
}

const eqnGraphs = new Map<string, Graph>();
/** Eager execution of one primitive: a cached one-equation graph. */
export function runPrimitive(prim: Primitive, args: Array[], params: Params): Array[] {
  const avals: ShapedArray[] = args.map((a) => a.aval);
  const plain = JSON.stringify(params, (_k, v) => (v instanceof Graph || typeof v === 'function' ? undefined : v));
  const key = `${prim.name}|${plain}|${avals.map(avalString).join(',')}`;
  let g = eqnGraphs.get(key);
  const hasOpaque = Object.values(params as object).some(
    (v) =>
      v instanceof Graph ||
      typeof v === 'function' ||
      (globalThis.Array.isArray(v) && v.some((x) => x instanceof Graph)),
  );
  if (!g || hasOpaque) {
    g = Graph.ofEquation(prim, avals, params);
    if (!hasOpaque) eqnGraphs.set(key, g);
  }
  return runGraph(g, args);
}
