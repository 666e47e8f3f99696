/// <reference lib="esnext.disposable" preserve="true" />
/**
 * The immutable Array: the one value type users hold. Concrete arrays own data; tracers
 * (defined in trace.ts) stand for values inside transforms and share every method.
 * Methods delegate to the np layer through {@link installArrayOps}, so this file stays
 * free of imports from higher layers.
 * @module
 */
import { type DType, type TypedArray, allocate, coerce, fromStorage, isHalf, toStorage } from './dtype.js';
import { type Shape, sizeOf } from './shape.js';
import { FluxionError, TraceError, fmtShape } from './errors.js';
import { formatArray } from './format.js';

/** The abstract value of an array: what transforms and the IR know about it. @category Arrays */
export interface ShapedArray {
  readonly shape: Shape;
  readonly dtype: DType;
}

/**
 * The shape and dtype of an array that need not exist: a tree leaf, as JAX's
 * `ShapeDtypeStruct` (what `models.paramShapes` returns instead of weights).
 * @category Arrays
 */
export class ShapeDtype implements ShapedArray {
  constructor(
    readonly shape: Shape,
    readonly dtype: DType,
  ) {}
  /** The number of elements. */
  get size(): number {
    return sizeOf(this.shape);
  }
  toString(): string {
    return `ShapeDtype(${avalString(this)})`;
  }
}

const SHORT_DTYPE: Record<DType, string> = {
  float64: 'f64',
  float32: 'f32',
  float16: 'f16',
  bfloat16: 'bf16',
  int32: 'i32',
  int16: 'i16',
  int8: 'i8',
  uint32: 'u32',
  uint16: 'u16',
  uint8: 'u8',
  bool: 'bool',
};
export const avalString = (a: ShapedArray): string => `${SHORT_DTYPE[a.dtype]}[${a.shape.join(',')}]`;

/**
 * Anything the np functions accept where an array is expected (nested lists become float32 arrays).
 * @category Arrays
 */
export type ArrayLike = Array | number | boolean | readonly NestedArray[] | TypedArrayInput;

/**
 * Typed arrays taken where arrays go (as 1-d arrays; `np.array(data, { shape })` gives a shape). One of
 * the type a dtype is stored in is used without a copy.
 * @category Arrays
 */
export type TypedArrayInput =
  | Float32Array
  | Float64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray;

/** Nested JS arrays as returned by {@link Array.toArray}. */
export type NestedArray = number | boolean | NestedArray[];

/**
 * Index entry for `slice`: an integer, `null` (a whole axis), a slice as a string (`'1:3'`, `'::-1'`,
 * `'...'` for all the axes left) or as `[start, stop, step?]`.
 */
export type Index = number | null | string | readonly [number | null, number | null, number?];

/**
 * Index entry for `at`: an integer, `null`, a slice string (`'1:3'`, `'...'`), or an index array (an
 * integer array, a JS list or a typed array; several broadcast together) or a boolean mask, as in numpy.
 */
export type AtIndex = number | null | string | Array | readonly NestedArray[] | TypedArrayInput;

/** The operations Array methods delegate to (installed by the np layer). */
export interface ArrayOps {
  binary(
    op:
      | 'add'
      | 'subtract'
      | 'multiply'
      | 'divide'
      | 'power'
      | 'maximum'
      | 'minimum'
      | 'less'
      | 'lessEqual'
      | 'greater'
      | 'greaterEqual'
      | 'equal'
      | 'notEqual'
      | 'matmul',
    x: Array,
    y: ArrayLike,
  ): Array;
  unary(op: 'negative' | 'exp' | 'log' | 'sqrt' | 'abs' | 'tanh' | 'sin' | 'cos' | 'square', x: Array): Array;
  reduce(
    op: 'sum' | 'mean' | 'max' | 'min' | 'prod' | 'argmax' | 'argmin',
    x: Array,
    opts?: { axis?: number | number[]; keepdims?: boolean },
  ): Array;
  reshape(x: Array, shape: number[]): Array;
  transpose(x: Array, axes?: number[]): Array;
  astype(x: Array, dtype: DType): Array;
  slice(x: Array, index: Index[]): Array;
  at(x: Array, index: AtIndex[], mode: 'get' | 'set' | 'add' | 'multiply', v?: ArrayLike): Array;
  take(x: Array, indices: ArrayLike, opts?: { axis?: number }): Array;
}
let ops: ArrayOps | undefined;
/** Installs the np implementations behind Array methods (called once by np). */
export function installArrayOps(o: ArrayOps): void {
  ops = o;
}
const O = (): ArrayOps => {
  if (!ops) throw new FluxionError('Fluxion not initialised: import from the package root');
  return ops;
};

/**
 * An immutable n-dimensional array. Create one with `np.array`, `np.zeros`, ...; every
 * operation returns a new array. Inside `jit`, `grad` or `vmap` the same methods work on
 * traced arrays.
 * @example
 * const x = np.array([[1, 2], [3, 4]]);
 * x.add(1).sum().item(); // 14
 * @category Arrays
 */
export abstract class Array {
  abstract readonly shape: Shape;
  abstract readonly dtype: DType;

  get ndim(): number {
    return this.shape.length;
  }
  get size(): number {
    return sizeOf(this.shape);
  }
  get aval(): ShapedArray {
    return { shape: this.shape, dtype: this.dtype };
  }

  /** The concrete value behind this array, or null if it is only known abstractly. */
  abstract toConcrete(): ConcreteArray | null;
  /** The transform tracing this array (undefined for a concrete one), for messages. */
  get tracedBy(): string | undefined {
    return undefined;
  }

  protected concrete(what: string): ConcreteArray {
    const c = this.toConcrete();
    if (!c) {
      throw new TraceError(
        `${what}: the value of a traced array ${avalString(this.aval)} is not known while tracing ` +
          `(inside ${this.tracedBy ?? 'jit, vmap or grad'}). Use lax.cond / lax.whileLoop for value-dependent ` +
          `control flow, or pass the argument as a static (non-array) value.`,
      );
    }
    return c;
  }

  /** Reads the elements as a typed array (row-major). */
  async data(): Promise<TypedArray> {
    return this.dataSync();
  }
  /** Reads the elements synchronously (the CPU backend always allows it), as a copy of your own. */
  dataSync(): TypedArray {
    return this.concrete('dataSync').buffer.slice() as TypedArray;
  }
  /**
   * The elements as the array's own memory (row-major; float16 and bfloat16 decoded once), without
   * a copy: read it, never write to it, since arrays are immutable and others may share it (as
   * `np.array` takes a typed array). `dataSync()` gives a copy to change.
   * @example const logits = jit(model)(x).view(); // what jit returned, not copied again
   */
  view(): TypedArray {
    const c = this.concrete('view');
    share(c.storage.buffer); // the caller may keep it: never handed to another array
    return c.buffer;
  }
  /** The elements as nested JS arrays (booleans for bool arrays). */
  toArray(): NestedArray {
    const c = this.concrete('toArray');
    const data = c.buffer;
    const isBool = c.dtype === 'bool';
    const build = (dim: number, offset: number): NestedArray => {
      if (dim === c.shape.length) return isBool ? data[offset] !== 0 : data[offset];
      const stride = sizeOf(c.shape.slice(dim + 1));
      return globalThis.Array.from({ length: c.shape[dim] }, (_, i) => build(dim + 1, offset + i * stride));
    };
    return build(0, 0);
  }
  /** The single element of a size-1 array as a JS number (a bool array's as 0 or 1: see {@link Array.bool}). */
  item(): number {
    const c = this.concrete('item');
    if (c.size !== 1)
      throw new FluxionError(`item: array of shape ${fmtShape(c.shape)} has ${c.size} elements, expected 1`);
    return c.buffer[0];
  }
  /** The single element of a size-1 array as a boolean (nonzero is true), as Python's `bool(x)`. */
  bool(): boolean {
    return this.item() !== 0;
  }
  /**
   * A concrete one-element array converts to its number, so `np.sum(x) > 0`, `Number(x)`, `+x` and
   * `x * 2` work. Larger arrays are ambiguous as numbers (numpy's rule) and traced arrays have no
   * value yet, so both throw (JavaScript cannot intercept `if (x)`: an array object is always truthy;
   * write `if (x.bool())`). In a string context (`${x}`, `String(x)`) any array prints as
   * {@link Array.toString} does.
   */
  [Symbol.toPrimitive](hint: 'number' | 'string' | 'default'): number | string {
    if (hint === 'string') return this.toString();
    if (this.size !== 1)
      throw new FluxionError(
        `the number of an array of shape ${fmtShape(this.shape)} is ambiguous: it has ${this.size} elements ` +
          `(reduce it first, e.g. with .sum() or .any(), or read it with .toArray())`,
      );
    return this.concrete('converting an array to a JS number').buffer[0];
  }
  valueOf(): number {
    return this[Symbol.toPrimitive]('number') as number;
  }

  /** `this + y` with broadcasting. */ add(y: ArrayLike): Array {
    return O().binary('add', this, y);
  }
  /** `this - y` with broadcasting. */ subtract(y: ArrayLike): Array {
    return O().binary('subtract', this, y);
  }
  /** `this * y` with broadcasting. */ multiply(y: ArrayLike): Array {
    return O().binary('multiply', this, y);
  }
  /** `this / y` with broadcasting. */ divide(y: ArrayLike): Array {
    return O().binary('divide', this, y);
  }
  /** `this ** y` with broadcasting. */ pow(y: ArrayLike): Array {
    return O().binary('power', this, y);
  }
  /** Elementwise maximum. */ maximum(y: ArrayLike): Array {
    return O().binary('maximum', this, y);
  }
  /** Elementwise minimum. */ minimum(y: ArrayLike): Array {
    return O().binary('minimum', this, y);
  }
  /** Matrix product (np.matmul). */ matmul(y: ArrayLike): Array {
    return O().binary('matmul', this, y);
  }
  /** `this < y`. */ less(y: ArrayLike): Array {
    return O().binary('less', this, y);
  }
  /** `this <= y`. */ lessEqual(y: ArrayLike): Array {
    return O().binary('lessEqual', this, y);
  }
  /** `this > y`. */ greater(y: ArrayLike): Array {
    return O().binary('greater', this, y);
  }
  /** `this >= y`. */ greaterEqual(y: ArrayLike): Array {
    return O().binary('greaterEqual', this, y);
  }
  /** `this == y` elementwise. */ equal(y: ArrayLike): Array {
    return O().binary('equal', this, y);
  }
  /** `this != y` elementwise. */ notEqual(y: ArrayLike): Array {
    return O().binary('notEqual', this, y);
  }
  /** `-this`. */ neg(): Array {
    return O().unary('negative', this);
  }
  /** Elementwise e^x. */ exp(): Array {
    return O().unary('exp', this);
  }
  /** Elementwise natural log. */ log(): Array {
    return O().unary('log', this);
  }
  /** Elementwise square root. */ sqrt(): Array {
    return O().unary('sqrt', this);
  }
  /** Elementwise absolute value. */ abs(): Array {
    return O().unary('abs', this);
  }
  /** Elementwise tanh. */ tanh(): Array {
    return O().unary('tanh', this);
  }
  /** Elementwise x*x. */ square(): Array {
    return O().unary('square', this);
  }
  /** Sum over `axis` (all axes by default). */ sum(opts?: { axis?: number | number[]; keepdims?: boolean }): Array {
    return O().reduce('sum', this, opts);
  }
  /** Mean over `axis`. */ mean(opts?: { axis?: number | number[]; keepdims?: boolean }): Array {
    return O().reduce('mean', this, opts);
  }
  /** Maximum over `axis`. */ max(opts?: { axis?: number | number[]; keepdims?: boolean }): Array {
    return O().reduce('max', this, opts);
  }
  /** Minimum over `axis`. */ min(opts?: { axis?: number | number[]; keepdims?: boolean }): Array {
    return O().reduce('min', this, opts);
  }
  /** Product over `axis`. */ prod(opts?: { axis?: number | number[]; keepdims?: boolean }): Array {
    return O().reduce('prod', this, opts);
  }
  /** Index of the maximum along `axis` (flattened by default). */ argmax(opts?: {
    axis?: number;
    keepdims?: boolean;
  }): Array {
    return O().reduce('argmax', this, opts);
  }
  /** Index of the minimum along `axis`. */ argmin(opts?: { axis?: number; keepdims?: boolean }): Array {
    return O().reduce('argmin', this, opts);
  }
  /** Same elements, new shape (one entry may be -1). */ reshape(...shape: number[] | [number[]]): Array {
    return O().reshape(this, (globalThis.Array.isArray(shape[0]) ? shape[0] : shape) as number[]);
  }
  /** Permutes axes (reverses them by default). */ transpose(axes?: number[]): Array {
    return O().transpose(this, axes);
  }
  /** Transpose (reversed axes). */ get T(): Array {
    return O().transpose(this);
  }
  /** Converts to another dtype. */ astype(dtype: DType): Array {
    return O().astype(this, dtype);
  }
  /** Basic indexing: one entry per leading axis, an integer, `null` or `[start, stop, step]`. */
  slice(...index: Index[]): Array {
    return O().slice(this, index);
  }
  /**
   * Indexed read and functional updates, as JAX's `x.at[...]`: `x.at(0).set(5)`,
   * `x.at(null, '1:3').add(1)`, `x.at([2, 0]).get()` (an index list picks rows), `x.at(mask).set(0)`.
   * Updates return a new array; `x` is unchanged. Index arrays follow numpy: several broadcast
   * together, repeated positions add up under `add` and the last one wins under `set`. See docs/arrays.md.
   * @example np.arange(12).reshape(3, 4).at([0, 2], '1:').get() // shape (2, 3): rows 0 and 2 from column 1
   * @example np.zeros([4]).at([1, 1, 3]).add(1) // [0, 2, 0, 1]
   */
  at(...index: AtIndex[]): {
    get(): Array;
    set(v: ArrayLike): Array;
    add(v: ArrayLike): Array;
    multiply(v: ArrayLike): Array;
  } {
    return {
      get: () => O().at(this, index, 'get'),
      set: (v) => O().at(this, index, 'set', v),
      add: (v) => O().at(this, index, 'add', v),
      multiply: (v) => O().at(this, index, 'multiply', v),
    };
  }
  /**
   * Elements at integer `indices` along `axis` (of the flattened array without one), as `np.take`.
   * @example np.arange(6).reshape(2, 3).take([2, 0], { axis: 1 }) // [[2, 0], [5, 3]]
   */
  take(indices: ArrayLike, opts?: { axis?: number }): Array {
    return O().take(this, indices, opts);
  }

  toString(): string {
    const c = this.toConcrete();
    return c ? formatArray(c) : `Traced<${avalString(this.aval)}>`;
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  /** Releases the backing memory now instead of at garbage collection (optional). */
  dispose(): void {}
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * Arrays computed from scalars and other such constants alone (a JS number broadcast to a shape,
 * zeros a rule makes, an iota), and the constants of jitted programs. Backends may place them
 * anywhere, like the scalar they come from or the program they belong to.
 */
export const weakConstants = new WeakSet<Array>();

/** Concrete arrays of at least this many bytes are counted by {@link memoryStats}. */
const TRACKED_BYTES = 1024;
/** Bytes held by live concrete arrays, for {@link memoryStats}. */
const live = { buffers: 0, bytes: 0 };
const registry = new FinalizationRegistry<number>((bytes) => {
  live.buffers--;
  live.bytes -= bytes;
});

/** Memory counters of non-CPU backends, registered by the backends themselves. */
const backendStats: Record<string, () => { buffers: number; bytes: number }> = {};
export function registerMemoryStats(backend: string, stats: () => { buffers: number; bytes: number }): void {
  backendStats[backend] = stats;
}

/**
 * Live buffers and bytes held by arrays, per backend (`cpu`, counting arrays of 1 KiB or
 * more, and `webgpu` once it is used). CPU arrays are counted until their finalizers run, which
 * happens between tasks, never inside a synchronous loop; so in Node `cpu.bytes` is also capped by
 * the bytes of ArrayBuffers the process really holds, which the collector frees at once.
 * @example memoryStats().cpu.bytes
 * @category Arrays
 */
export function memoryStats(): Record<string, { buffers: number; bytes: number }> & {
  cpu: { buffers: number; bytes: number };
} {
  const held = (globalThis as { process?: NodeJS.Process }).process?.memoryUsage?.().arrayBuffers ?? Infinity;
  const cpu = { buffers: live.buffers, bytes: Math.min(live.bytes, held) };
  return { ...Object.fromEntries(Object.entries(backendStats).map(([k, f]) => [k, f()])), cpu };
}

/**
 * Buffers that one array alone holds and that no caller has seen (what a kernel or a compiled call
 * just wrote), by buffer: donating such an array hands its memory to later outputs. A buffer two
 * arrays have held (a reshape's view) or that `view()` passed out is never one.
 */
const soleOwner = new WeakMap<ArrayBufferLike, ConcreteArray>();
/** Buffers some array has held, and those a second holder (or a caller) has seen. */
const held = new WeakSet<ArrayBufferLike>();
const shared = new WeakSet<ArrayBufferLike>();
const share = (buffer: ArrayBufferLike) => {
  shared.add(buffer);
  soleOwner.delete(buffer);
};

/** An array whose elements live in memory (CPU backend). */
export class ConcreteArray extends Array {
  #storage: TypedArray | null;
  /** Decoded float16/bfloat16 elements, kept while something else holds them (kernels read them repeatedly). */
  #values: WeakRef<TypedArray> | undefined;
  /**
   * `data` holds the elements as numbers (as kernels write them: they are rounded into the dtype) or
   * as stored (16-bit patterns for float16 and bfloat16, see {@link ConcreteArray.storage}).
   */
  constructor(
    data: TypedArray,
    readonly shape: Shape,
    readonly dtype: DType,
  ) {
    super();
    this.#storage = toStorage(dtype, data);
    // Registering for collection costs about a microsecond; arrays under 1 KiB (scalars and
    // other small values, most eager ops) are left out of the statistics.
    if (this.#storage.byteLength >= TRACKED_BYTES) {
      live.buffers++;
      live.bytes += this.#storage.byteLength;
      registry.register(this, this.#storage.byteLength, this);
      const buffer = this.#storage.buffer;
      if (held.has(buffer)) share(buffer);
      else held.add(buffer);
    }
  }
  /**
   * Marks a freshly computed array as the only holder of its buffer, where it is: the whole buffer,
   * which no other array has held and no caller has been given.
   */
  ownBuffer(): this {
    const s = this.#storage;
    if (s && s.byteLength >= TRACKED_BYTES && s.byteOffset === 0 && s.byteLength === s.buffer.byteLength)
      if (!shared.has(s.buffer)) soleOwner.set(s.buffer, this);
    return this;
  }
  /** Whether this array alone holds its memory and no caller has seen it (see {@link ConcreteArray.ownBuffer}). */
  get ownsBuffer(): boolean {
    const buffer = this.#storage?.buffer;
    return buffer !== undefined && soleOwner.get(buffer) === this;
  }
  /**
   * Disposes a donated array and returns its buffer where no one else can see it (see
   * {@link ConcreteArray.ownBuffer}), for an output to reuse.
   */
  donate(): ArrayBuffer | undefined {
    const buffer = this.#storage?.buffer;
    const free = buffer && soleOwner.get(buffer) === this;
    if (free) {
      soleOwner.delete(buffer);
      held.delete(buffer); // its next array will be its only holder again
    }
    this.dispose();
    return free ? (buffer as ArrayBuffer) : undefined;
  }
  /** The elements as stored (float16 and bfloat16 as bit patterns in a Uint16Array); must not be mutated. */
  get storage(): TypedArray {
    if (!this.#storage) throw new FluxionError(`array ${avalString(this)} was used after dispose()`);
    return this.#storage;
  }
  /** The elements as numbers (float16 and bfloat16 decoded to a Float32Array); must not be mutated. */
  get buffer(): TypedArray {
    const stored = this.storage;
    if (!isHalf(this.dtype)) return stored;
    let values = this.#values?.deref();
    if (!values) this.#values = new WeakRef((values = fromStorage(this.dtype, stored)));
    return values;
  }
  toConcrete(): ConcreteArray {
    return this;
  }
  override dispose(): void {
    if (!this.#storage) return;
    if (this.#storage.byteLength >= TRACKED_BYTES) {
      live.buffers--;
      live.bytes -= this.#storage.byteLength;
      registry.unregister(this);
    }
    this.#storage = null;
    this.#values = undefined;
  }
  /** A 0-d array holding `value` coerced to `dtype`. */
  static scalar(value: number, dtype: DType): ConcreteArray {
    const data = allocate(dtype, 1);
    data[0] = coerce(dtype, value);
    return new ConcreteArray(data, [], dtype);
  }
}
