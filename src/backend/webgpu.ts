/// <reference types="@webgpu/types" preserve="true" />
/**
 * The WebGPU backend: device acquisition (Dawn through the `webgpu` package in Node, with
 * the OpenGL ES compatibility path for GPU-less machines; `navigator.gpu` in browsers), GPU
 * arrays, a buffer pool, a pipeline cache keyed by WGSL source, and graph execution from the
 * kernels that compile/ plans. Device errors surface as FluxionErrors naming the kernel.
 * @module
 */
import { Array, ConcreteArray, type ShapedArray, avalString, registerMemoryStats } from '../core/array.js';
import { type DType, type TypedArray, STORAGE, computeDType } from '../core/dtype.js';
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

const elemBytes = 4; // every dtype is stored in 32-bit words on the GPU (bool as u32)

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
export function upload(x: ConcreteArray): GpuArray {
  if (x.dtype === 'float64')
    throw new DTypeError(
      'webgpu: cannot place a float64 array on the GPU (WGSL has no float64); convert it with astype, or keep it ' +
        'on the CPU backend',
    );
  const buf = acquire(x.size * elemBytes);
  const words = deviceWords(x);
  if (x.size) inOrder(() => writeWords(buf, words));
  return new GpuArray(buf, x.shape, x.dtype);
}
/** Every element as a 32-bit word of its compute dtype: float16 as its f32 value, int8 as i32. */
const deviceWords = (x: ConcreteArray): TypedArray =>
  x.dtype === 'bool' ? Uint32Array.from(x.buffer) : STORAGE[computeDType(x.dtype)].from(x.buffer as ArrayLike<number>);
const writeWords = (buf: GPUBuffer, words: TypedArray) =>
  gpu().device.queue.writeBuffer(buf, 0, words.buffer, words.byteOffset, words.byteLength);

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
  const bytes = Math.max(4, x.size * elemBytes);
  const staging = device.createBuffer({ size: roundUp(bytes), usage: 0x01 | 0x08 }); // MAP_READ | COPY_DST
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(x.buffer, 0, staging, 0, roundUp(bytes));
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(0x01);
  const raw = staging.getMappedRange().slice(0, x.size * elemBytes);
  staging.unmap();
  staging.destroy();
  checkErrors();
  const words = x.dtype === 'bool' ? new Uint32Array(raw) : new STORAGE[computeDType(x.dtype)](raw);
  // Narrow dtypes come back as their compute values, which the array stores in its own dtype.
  return new ConcreteArray(x.dtype === 'bool' ? Uint8Array.from(words) : words, x.shape, x.dtype);
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
function pipeline(k: Kernel): GPUComputePipeline {
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
 * later kernels may write their outputs there.
 */
export function runGraph(graph: Graph, args: Array[], donate: readonly number[] = []): Array[] {
  const flat = inlineCalls(graph, (e) => e.prim.props?.inline === 'graph');
  if (flat.eqns.some(runsOnHost)) return runSegmented(flat, args);
  const ex = compile(graph);
  const { device } = gpu();
  const bufs = new Map<number, GPUBuffer>();
  const temps: GPUBuffer[] = [];
  ex.graph.inVars.forEach((v, i) => {
    const a = args[i];
    bufs.set(v.id, a instanceof GpuArray ? a.buffer : constantBuffer(a, temps));
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
  ex.kernels.forEach((k, ki) => {
    for (const w of k.writes) {
      const size = roundUp(sizeOf(w.aval.shape) * elemBytes);
      const j = donated.findIndex((d) => d.last < ki && d.buffer.size === size);
      const b = j >= 0 ? donated.splice(j, 1)[0].buffer : acquire(size); // a donated buffer stays counted as live
      bufs.set(w.id, b);
      temps.push(b);
    }
  });
  const encodeKernels = (enc: GPUCommandEncoder) =>
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
      else {
        const groups = Math.ceil(k.n / WORKGROUP);
        pass.dispatchWorkgroups(Math.min(groups, 65535), Math.ceil(groups / 65535));
      }
      pass.end();
    });
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
    if (a instanceof Lit) return upload(ConcreteArray.scalar(a.value, a.aval.dtype));
    const k = ex.graph.inVars.indexOf(a);
    if (k >= 0) return args[k] instanceof GpuArray ? args[k] : upload(args[k] as ConcreteArray);
    let out = made.get(a.id);
    if (!out) {
      const b = bufs.get(a.id)!;
      temps.splice(temps.indexOf(b), 1);
      made.set(a.id, (out = new GpuArray(b, a.aval.shape, a.aval.dtype, failure)));
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
function runSegmented(g: Graph, args: Array[]): Array[] {
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
    const results = runGraph(new Graph(ins, segment, outs), ins.map(read));
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
  return g.outs.map(read);
}

const onDevice = (x: Array): GpuArray => (x instanceof GpuArray ? x : upload(x.toConcrete()!));

/** Copies row `t` of `xs` (leading axis) into a new array, or writes `y` into row `t` of `into`. */
function copyRow(src: GpuArray, srcOffset: number, dst: GpuArray, dstOffset: number, bytes: number): GpuArray {
  if (!bytes) return dst;
  if (src.buffer === dst.buffer) throw new FluxionError('webgpu: scan copies a row within one buffer (aliasing)');
  const failure = submitScoped(
    'scan row copy',
    (enc) => enc.copyBufferToBuffer(src.buffer, srcOffset, dst.buffer, dstOffset, bytes),
    [src.failure, dst.failure],
  );
  return new GpuArray(dst.donate()!, dst.shape, dst.dtype, failure);
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
    const xs = inputs.slice(nc + nk).map(onDevice);
    const yAvals = body.outAvals.slice(nk);
    let ys = yAvals.map(
      (a) => new GpuArray(acquire(length * sizeOf(a.shape) * elemBytes), [length, ...a.shape], a.dtype),
    );
    for (let k = 0; k < length; k++) {
      const t = reverse ? length - 1 - k : k;
      const xt = xs.map((x) => {
        const bytes = sizeOf(x.shape.slice(1)) * elemBytes;
        return copyRow(x, t * bytes, new GpuArray(acquire(bytes), x.shape.slice(1), x.dtype), 0, bytes);
      });
      const outs = runGraph(body, [...consts, ...carry, ...xt]);
      carry = outs.slice(0, nk);
      ys = outs.slice(nk).map((y, i) => {
        const bytes = sizeOf(yAvals[i].shape) * elemBytes;
        return copyRow(onDevice(y), 0, ys[i], t * bytes, bytes);
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
  const buffers = e.outs.map((v) => acquire(sizeOf(v.aval.shape) * elemBytes));
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
        if (c.size) writeWords(buffers[k], deviceWords(c));
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
  const buffer = upload(c).donate()!;
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
