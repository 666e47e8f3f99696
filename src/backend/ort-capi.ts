/**
 * ONNX Runtime's C API, called through the optional `koffi`, for sessions that write their outputs
 * straight into buffers Fluxion allocates. onnxruntime-node's binding lets the runtime allocate
 * each output, then copies it into a fresh zero-filled buffer: ResNet-18's Adam step returns 140 MB
 * (parameters and both moments), so every step paid a memset and a copy of that, and held the
 * runtime's copy in its arena beside Fluxion's.
 * @module
 */
import { type DType, STORAGE, type TypedArray } from '../core/dtype.js';
import { ONNX_TYPE } from '../onnx/lower.js';

/** An input as ONNX Runtime takes it: elements in the dtype the lowered model computes in. */
export interface Feed {
  name: string;
  dtype: DType;
  data: TypedArray;
  dims: readonly number[];
}
/**
 * An output to fetch: `size` elements of `dtype`. Where its `dims` are the shape ONNX Runtime
 * computes for it, it is written in place; else (a shape the lowering does not know) copied out.
 */
export interface Fetch {
  name: string;
  dtype: DType;
  size: number;
  dims?: readonly number[];
  /** Memory to write it into (an input's, which every node reading it is done with first), where it can be. */
  into?: TypedArray;
}
/** A compiled model, run synchronously. */
export interface NativeSession {
  run(inputs: readonly Feed[], outputs: readonly Fetch[]): TypedArray[];
  /** Writes ONNX Runtime's profile (when the session was created with profiling on). */
  endProfiling(): void;
  dispose(): void;
}
/** ONNX Runtime, loaded: its version and a way to compile models with session options. */
export interface Runtime {
  version: string;
  /** `options` as onnxruntime-node's `SessionOptions` spell them (only the fields Fluxion sets). */
  load(bytes: Uint8Array, options: Record<string, unknown>): NativeSession;
}

// Positions in the OrtApi table of function pointers (onnxruntime_c_api.h). The table only ever
// grows at its end, so these hold for every runtime since API version 5.
const API = {
  GetErrorMessage: [2, 'const char *GetErrorMessage(void *status)'],
  CreateEnv: [3, 'void *CreateEnv(int level, const char *id, _Out_ void **env)'],
  CreateSessionFromArray: [
    8,
    'void *CreateSessionFromArray(void *env, const void *data, size_t len, void *options, _Out_ void **session)',
  ],
  // The arrays of names and values are BigUint64Arrays of pointers, which koffi passes as they are.
  Run: [
    9,
    'void *Run(void *session, void *runOptions, void *inNames, void *inputs, size_t nIn, ' +
      'void *outNames, size_t nOut, void *outputs)',
  ],
  CreateSessionOptions: [10, 'void *CreateSessionOptions(_Out_ void **options)'],
  SetOptimizedModelFilePath: [11, 'void *SetOptimizedModelFilePath(void *options, const char *path)'],
  SetSessionExecutionMode: [13, 'void *SetSessionExecutionMode(void *options, int mode)'],
  EnableProfiling: [14, 'void *EnableProfiling(void *options, const char *prefix)'],
  EnableMemPattern: [16, 'void *EnableMemPattern(void *options)'],
  DisableMemPattern: [17, 'void *DisableMemPattern(void *options)'],
  SetSessionLogSeverityLevel: [22, 'void *SetSessionLogSeverityLevel(void *options, int level)'],
  SetSessionGraphOptimizationLevel: [23, 'void *SetSessionGraphOptimizationLevel(void *options, int level)'],
  SetIntraOpNumThreads: [24, 'void *SetIntraOpNumThreads(void *options, int n)'],
  SetInterOpNumThreads: [25, 'void *SetInterOpNumThreads(void *options, int n)'],
  CreateTensorWithDataAsOrtValue: [
    49,
    'void *CreateTensorWithDataAsOrtValue(void *memory, void *data, size_t bytes, void *dims, ' +
      'size_t rank, int type, void *value)',
  ],
  GetTensorMutableData: [51, 'void *GetTensorMutableData(void *value, _Out_ void **data)'],
  CreateCpuMemoryInfo: [69, 'void *CreateCpuMemoryInfo(int allocator, int memType, _Out_ void **info)'],
  AllocatorFree: [76, 'void *AllocatorFree(void *allocator, void *p)'],
  GetAllocatorWithDefaultOptions: [78, 'void *GetAllocatorWithDefaultOptions(_Out_ void **allocator)'],
  ReleaseStatus: [93, 'void ReleaseStatus(void *status)'],
  ReleaseSession: [95, 'void ReleaseSession(void *session)'],
  ReleaseValue: [96, 'void ReleaseValue(void *value)'],
  ReleaseSessionOptions: [100, 'void ReleaseSessionOptions(void *options)'],
  SessionEndProfiling: [110, 'void *SessionEndProfiling(void *session, void *allocator, _Out_ void **file)'],
  AddSessionConfigEntry: [130, 'void *AddSessionConfigEntry(void *options, const char *key, const char *value)'],
} as const;
type Api = { [K in keyof typeof API]: (...args: any[]) => any };

const OPTIMIZATION_LEVEL: Record<string, number> = { disabled: 0, basic: 1, extended: 2, all: 99 };
const EXECUTION_MODE: Record<string, number> = { sequential: 0, parallel: 1 };
const LOG_ERRORS = 3;
const libraries: unknown[] = [];

/** Buffers that donated arrays gave up, by byte length: the next outputs of those lengths are written into them. */
let recycled = new Map<number, ArrayBuffer[]>();
/**
 * Offers `buffers` (no array holds them any more) to the next run's outputs, in place of the last
 * offer: a training step that donates its state writes the next state into it.
 */
export function recycle(buffers: readonly ArrayBuffer[]): void {
  recycled = new Map();
  for (const b of buffers) recycled.set(b.byteLength, [...(recycled.get(b.byteLength) ?? []), b]);
}

/**
 * The runtime in the shared library at `path` (onnxruntime-node's own), or null where `koffi` or
 * the library cannot be loaded.
 */
export function loadCApi(path: string, version: string): Runtime | null {
  let koffi: any;
  try {
    const { createRequire } = process.getBuiltinModule('node:module') as typeof import('node:module');
    koffi = createRequire(import.meta.url)('koffi');
  } catch {
    return null;
  }
  const lib = koffi.load(path);
  libraries.push(lib); // koffi unloads a library whose handle is collected, and its functions with it
  const base = koffi.decode(
    lib.func('void *OrtGetApiBase()')(),
    koffi.struct({ GetApi: 'void *', GetVersionString: 'void *' }),
  );
  const table = koffi.decode(base.GetApi, koffi.proto('void *GetApi(uint32_t version)'))(5);
  if (!table) return null;
  const api = Object.fromEntries(
    Object.entries(API).map(([name, [index, signature]]) => [
      name,
      koffi.decode(koffi.decode(table, 8 * index, 'void *'), koffi.proto(signature)),
    ]),
  ) as Api;
  const check = (status: unknown) => {
    if (!status) return;
    const message: string = api.GetErrorMessage(status);
    api.ReleaseStatus(status);
    throw new Error(message);
  };
  const out: unknown[] = [null];
  const made = (status: unknown) => {
    check(status);
    return out[0];
  };
  const env = made(api.CreateEnv(LOG_ERRORS, 'fluxion', out));
  const memory = made(api.CreateCpuMemoryInfo(0, 0, out));
  const allocator = made(api.GetAllocatorWithDefaultOptions(out));
  const { Buffer } = process.getBuiltinModule('node:buffer') as typeof import('node:buffer');

  // A value over `data`, made on every run for every input and output: its dims and the new value
  // pass through typed arrays, which koffi hands over as pointers (a JavaScript array of dims and an
  // `_Out_` array cost 0.65 µs a value, these 0.24).
  let dims64 = new BigInt64Array(8);
  const newValue = new BigUint64Array(1);
  const tensor = (dtype: DType, data: TypedArray, dims: readonly number[]): bigint => {
    if (dims.length > dims64.length) dims64 = new BigInt64Array(dims.length);
    for (let k = 0; k < dims.length; k++) dims64[k] = BigInt(dims[k]);
    check(
      api.CreateTensorWithDataAsOrtValue(
        memory,
        data,
        data.byteLength,
        dims64,
        dims.length,
        ONNX_TYPE[dtype],
        newValue,
      ),
    );
    return newValue[0];
  };
  /** Input and output names as C strings, each made once (a session's names recur on every run). */
  const cStrings = new Map<string, { bytes: Uint8Array; at: bigint }>();
  const cString = (name: string): bigint => {
    let s = cStrings.get(name);
    if (!s) {
      const bytes = Buffer.from(`${name}\0`);
      s = { bytes, at: koffi.address(bytes) };
      cStrings.set(name, s);
    }
    return s.at;
  };
  /** Room for `size` elements, recycled where it can be; ONNX Runtime writes every one, so it is not zeroed first. */
  const uninitialised = (dtype: DType, size: number): TypedArray => {
    const Storage = STORAGE[dtype];
    const bytes = size * Storage.BYTES_PER_ELEMENT;
    return new Storage(recycled.get(bytes)?.pop() ?? Buffer.allocUnsafeSlow(bytes).buffer, 0, size);
  };
  const copyOut = (value: unknown, dtype: DType, size: number): TypedArray => {
    const Storage = STORAGE[dtype];
    const data = new Storage(size);
    if (size > 0) data.set(new Storage(koffi.view(made(api.GetTensorMutableData(value, out)), data.byteLength)));
    return data;
  };

  const sessionOptions = (options: Record<string, unknown>) => {
    const handle = made(api.CreateSessionOptions(out));
    const { enableProfiling, profileFilePrefix, ...rest } = options;
    const set: Record<string, (value: any) => unknown> = {
      intraOpNumThreads: (n: number) => api.SetIntraOpNumThreads(handle, n),
      interOpNumThreads: (n: number) => api.SetInterOpNumThreads(handle, n),
      graphOptimizationLevel: (level: string) =>
        api.SetSessionGraphOptimizationLevel(handle, OPTIMIZATION_LEVEL[level]),
      executionMode: (mode: string) => api.SetSessionExecutionMode(handle, EXECUTION_MODE[mode]),
      logSeverityLevel: (level: number) => api.SetSessionLogSeverityLevel(handle, level),
      enableMemPattern: (on: boolean) => (on ? api.EnableMemPattern(handle) : api.DisableMemPattern(handle)),
      optimizedModelFilePath: (path: string) => api.SetOptimizedModelFilePath(handle, path),
      extra: (extra: object) =>
        configEntries(extra).forEach(([k, v]) => check(api.AddSessionConfigEntry(handle, k, v))),
    };
    try {
      if (enableProfiling) check(api.EnableProfiling(handle, String(profileFilePrefix ?? 'onnxruntime_profile')));
      for (const [key, value] of Object.entries(rest)) {
        if (!(key in set)) throw new Error(`ONNX Runtime session option ${key} is not supported`);
        if (value !== undefined) check(set[key](value));
      }
      return handle;
    } catch (err) {
      api.ReleaseSessionOptions(handle);
      throw err;
    }
  };

  return {
    version,
    load(bytes, options) {
      const handle = sessionOptions(options);
      let session: unknown;
      try {
        session = made(api.CreateSessionFromArray(env, bytes, bytes.byteLength, handle, out));
      } finally {
        api.ReleaseSessionOptions(handle);
      }
      return {
        run(inputs, outputs) {
          const nIn = inputs.length;
          // Names, then values, of the inputs and then the outputs; an output's value left 0 is
          // allocated by ONNX Runtime (a shape the lowering does not know) and written here by Run.
          const names = new BigUint64Array(nIn + outputs.length);
          const values = new BigUint64Array(nIn + outputs.length);
          try {
            inputs.forEach((x, i) => {
              names[i] = cString(x.name);
              values[i] = tensor(x.dtype, x.data, x.dims);
            });
            const data = outputs.map((o, j) => {
              names[nIn + j] = cString(o.name);
              if (!o.dims) return null;
              const buffer = o.into ?? uninitialised(o.dtype, o.size);
              values[nIn + j] = tensor(o.dtype, buffer, o.dims);
              return buffer;
            });
            const [outNames, outValues] = [names.subarray(nIn), values.subarray(nIn)];
            check(api.Run(session, null, names, values, nIn, outNames, outputs.length, outValues));
            return outputs.map((o, j) => data[j] ?? copyOut(outValues[j], o.dtype, o.size));
          } finally {
            for (const v of values) if (v) api.ReleaseValue(v);
          }
        },
        endProfiling() {
          const file = made(api.SessionEndProfiling(session, allocator, out));
          check(api.AllocatorFree(allocator, file));
        },
        dispose() {
          if (session) api.ReleaseSession(session);
          session = null;
        },
      };
    },
  };
}

/** Nested `extra` options as ONNX Runtime's flat configuration keys (`{ a: { b: 1 } }` is `a.b = "1"`). */
function configEntries(extra: object, prefix = ''): [string, string][] {
  return Object.entries(extra).flatMap(([key, value]) =>
    value !== null && typeof value === 'object'
      ? configEntries(value as object, `${prefix}${key}.`)
      : [[`${prefix}${key}`, String(value)] as [string, string]],
  );
}
