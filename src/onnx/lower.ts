/**
 * Graph → ONNX ModelProto. Each equation asks its primitive's `onnx` rule for nodes; values
 * are named strings. Rewrites (a contraction over windows becoming a `Conv`) read through
 * producers, and the nodes they bypass are pruned at the end, so they cost nothing.
 * @module
 */
import { create, toBinary } from '@bufbuild/protobuf';
import type { ConcreteArray, ShapedArray } from '../core/array.js';
import {
  type DType,
  type TypedArray,
  STORAGE,
  allocate,
  coerce,
  computeDType,
  fromStorage,
  isHalf,
} from '../core/dtype.js';

export { computeDType };
import { UnlowerableError } from '../core/errors.js';
import { type Atom, type Eqn, type Graph, Lit } from '../core/ir.js';
import { broadcastShapes, sizeOf } from '../core/shape.js';
import type { OnnxAttr, OnnxEmitter, OnnxProducer, OnnxReader } from '../core/primitive.js';
import {
  AttributeProto_AttributeType as AttrType,
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  type NodeProto,
  NodeProtoSchema,
  type TensorProto,
  TensorProto_DataType as OnnxType,
  TensorProtoSchema,
  type ValueInfoProto,
  ValueInfoProtoSchema,
} from './generated/onnx_pb.js';

/** The operator set the lowering targets (bitwise operators and axes-as-inputs reductions need 18). */
export const OPSET = 18;
const IR_VERSION = 8n;

export { UnlowerableError };

/** The ONNX element type of each dtype. */
export const ONNX_TYPE: Record<DType, OnnxType> = {
  float64: OnnxType.DOUBLE,
  float32: OnnxType.FLOAT,
  float16: OnnxType.FLOAT16,
  bfloat16: OnnxType.BFLOAT16,
  int32: OnnxType.INT32,
  int16: OnnxType.INT16,
  int8: OnnxType.INT8,
  uint32: OnnxType.UINT32,
  uint16: OnnxType.UINT16,
  uint8: OnnxType.UINT8,
  bool: OnnxType.BOOL,
};

const ELEM = (d: DType): OnnxType => ONNX_TYPE[computeDType(d)];

/** An array's elements in its compute dtype, as a lowered graph takes them. */
export function computeValues(x: ConcreteArray): TypedArray {
  return inComputeType(x.buffer, x.dtype);
}

/** Does every equation (and every nested graph it inlines) have an ONNX rule? */
export const isLowerable = (g: Graph): boolean => g.eqns.every((e) => e.prim.onnx !== undefined);

/** Operators whose every node draws anew: never merged. */
const RANDOM_OPS = new Set([
  'RandomNormal',
  'RandomUniform',
  'RandomNormalLike',
  'RandomUniformLike',
  'Multinomial',
  'Bernoulli',
  'Dropout',
]);

function attribute(name: string, v: OnnxAttr) {
  if (typeof v === 'string')
    return create(AttributeProtoSchema, { name, type: AttrType.STRING, s: new TextEncoder().encode(v) });
  if (typeof v === 'number') return create(AttributeProtoSchema, { name, type: AttrType.INT, i: BigInt(v) });
  if ('f' in v) return create(AttributeProtoSchema, { name, type: AttrType.FLOAT, f: v.f });
  return create(AttributeProtoSchema, { name, type: AttrType.INTS, ints: v.map(BigInt) });
}

/** An attribute as a key: its kind and its value, exactly (-0 is not 0). */
const attrKey = (v: OnnxAttr): string =>
  typeof v === 'string'
    ? JSON.stringify(v)
    : typeof v === 'number'
      ? `i${v}`
      : 'f' in v
        ? `f${Object.is(v.f, -0) ? '-0' : v.f}`
        : `[${v.join()}]`;

/** A tensor's name and type, with its shape unless `shaped` is false (any shape). */
function valueInfo(name: string, dims: readonly number[], elemType: OnnxType, shaped = true): ValueInfoProto {
  const shape = { dim: dims.map((d) => ({ value: { case: 'dimValue' as const, value: BigInt(d) } })) };
  return create(ValueInfoProtoSchema, {
    name,
    type: { value: { case: 'tensorType', value: { elemType, ...(shaped ? { shape } : {}) } } },
  });
}

const bytesOf = (a: TypedArray | BigInt64Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();

/** Elements from which a transpose lowers in its canonical form (see collapsedTranspose). */
const COLLAPSE_TRANSPOSES_FROM = 1 << 16;

/** Collects nodes and constants while the primitives' rules run. */
class Builder implements OnnxEmitter {
  constructor(
    private block?: number | (() => number | undefined),
    private readonly shareConstants = true,
    readonly portable = false,
  ) {}
  get nchwcBlock(): number | undefined {
    if (typeof this.block === 'function') this.block = this.block(); // asked only when a convolution lowers
    return this.block;
  }
  readonly nodes: NodeProto[] = [];
  /** Operator domains besides the default one that nodes use (each needs an opset import). */
  readonly domains = new Set<string>();
  readonly initializers: TensorProto[] = [];
  private readonly names = new Map<number, string>();
  private readonly bound = new Set<string>();
  /** The variables bound to each name (a rule may return a value it was given), and their readers. */
  private readonly varsOf = new Map<string, number[]>();
  private readonly readersOf = new Map<number, OnnxReader[]>();
  private readonly producers = new Map<string, OnnxProducer>();
  private readonly constants = new Map<string, string>();
  /** Single-output nodes by operator, inputs and attributes (see computed). */
  private readonly made = new Map<string, string>();
  /** Shapes of values where known (the lowered graph's values, reshapes, what rules state). */
  private readonly shapes = new Map<string, readonly number[]>();
  /** The values of int64 constants, by name. */
  private readonly intValues = new Map<string, readonly number[]>();
  /** The node that computed each single-output value. */
  private readonly nodeOf = new Map<string, NodeProto>();
  /** Values that are pieces of a `Split`: its node and their position among its outputs. */
  private readonly pieces = new Map<string, { split: NodeProto; index: number }>();
  /** Values that are transposes of another (however lowered), so transposes of them compose. */
  private readonly transposes = new Map<string, { input: string; perm: readonly number[] }>();
  /** Values computed from constants only (ONNX Runtime folds them when it loads the model). */
  private readonly fixed = new Set<string>();
  /** The equation of the lowered graph that emitted each node, by node name. */
  readonly owners = new Map<string, Eqn>();
  private depth = 0;
  private count = 0;

  fresh(prefix: string): string {
    return `${prefix}${this.count++}`;
  }
  bind(id: number, name: string): void {
    this.names.set(id, name);
    this.bound.add(name);
    const vars = this.varsOf.get(name);
    if (vars) vars.push(id);
    else this.varsOf.set(name, [id]);
  }
  atom(a: Atom): string {
    if (a instanceof Lit) return this.constant(a.value, a.aval.dtype);
    const n = this.names.get(a.id);
    if (n === undefined) throw new UnlowerableError(`onnx: a value ${a.id} is used before it is defined`);
    return n;
  }
  op(type: string, inputs: readonly string[], attrs: Record<string, OnnxAttr> = {}, shape?: readonly number[]): string {
    let y = this.simplified(type, inputs, attrs);
    if (y === undefined) {
      y = this.computed(type, inputs, attrs);
      if (type === 'Transpose' && attrs.perm)
        this.transposes.set(y, { input: inputs[0], perm: attrs.perm as number[] });
    }
    if (shape) this.shapes.set(y, shape);
    return y;
  }
  /**
   * The node computing `type(inputs; attrs)`, made once: rules written one primitive at a time
   * repeat work (a convolution's im2col columns for its forward and its filter gradient, the same
   * reshape of a value for several uses), which ONNX Runtime would otherwise merge in every pass
   * of its optimiser, or not at all when a graph is compiled without it.
   */
  private computed(type: string, inputs: readonly string[], attrs: Record<string, OnnxAttr>): string {
    if (!this.shareConstants || RANDOM_OPS.has(type)) return this.ops(type, inputs, attrs, 1)[0];
    let key = `${type}(${inputs.join()})`;
    for (const name in attrs) key += ` ${name}=${attrKey(attrs[name])}`;
    let y = this.made.get(key);
    if (y === undefined) this.made.set(key, (y = this.ops(type, inputs, attrs, 1)[0]));
    return y;
  }
  /**
   * Layout moves that undo each other, as rules written one primitive at a time leave them
   * (a convolution's output split into groups, then merged back): a transpose of a transpose is one
   * transpose (none if they cancel), a reshape of a reshape one reshape, and a reshape to the shape
   * a value has is that value, and a reshape that restores a sum's reduced axes is the sum with
   * them kept. ONNX Runtime cancels transposes itself but keeps such reshapes, and they stop it
   * fusing what follows a convolution into the convolution.
   */
  private simplified(type: string, inputs: readonly string[], attrs: Record<string, OnnxAttr>): string | undefined {
    if (type === 'Transpose' && attrs.perm) {
      const inner = this.transposes.get(inputs[0]);
      const perm = attrs.perm as readonly number[];
      if (!inner) return this.collapsedTranspose(inputs[0], perm);
      const both = perm.map((axis) => inner.perm[axis]);
      return both.every((axis, i) => axis === i) ? inner.input : this.op('Transpose', [inner.input], { perm: both });
    }
    if (type === 'Concat') return this.rejoined(inputs, attrs.axis as number);
    if (type !== 'Reshape') return undefined;
    const inner = this.nodeOf.get(inputs[0]);
    const target = this.intValues.get(inputs[1]);
    if (!target || target.some((d) => d <= 0)) return undefined;
    if (inner?.opType === 'ReduceSum' && inner.domain === '' && this.keepsReducedAxes(inner, target))
      return this.op('ReduceSum', inner.input, { keepdims: 1 });
    const source = inner?.opType === 'Reshape' && inner.domain === '' ? inner.input[0] : inputs[0];
    const known = this.shapes.get(source);
    if (this.shareConstants && known && known.length === target.length && known.every((d, i) => d === target[i]))
      return source;
    if (source === inputs[0]) return undefined;
    return this.op('Reshape', [source, inputs[1]], attrs);
  }
  /**
   * A concatenation in which consecutive pieces of one `Split` along its axis, in order, stand for
   * the split's input (or one slice of it): an optimizer's small parameters, updated as one vector
   * and split again, are concatenated whole into the step's packed outputs. Undefined where nothing
   * is rejoined.
   */
  private rejoined(inputs: readonly string[], axis: number): string | undefined {
    const joined: string[] = [];
    for (let i = 0; i < inputs.length;) {
      const first = this.pieces.get(inputs[i]);
      let j = i + 1;
      while (
        first &&
        j < inputs.length &&
        this.pieces.get(inputs[j])?.split === first.split &&
        this.pieces.get(inputs[j])!.index === first.index + j - i
      )
        j++;
      const splitAxis = first?.split.attribute.find((a) => a.name === 'axis')?.i;
      if (!first || j - i < 2 || splitAxis !== BigInt(axis)) joined.push(inputs[i++]);
      else {
        const source = first.split.input[0];
        const whole = first.index === 0 && j - i === first.split.output.length;
        joined.push(whole ? source : this.sliceOfPieces(first.split, first.index, first.index + j - i, axis));
        i = j;
      }
    }
    if (joined.length === inputs.length) return undefined;
    return joined.length === 1 ? joined[0] : this.op('Concat', joined, { axis });
  }
  /** The split a value is a piece of, and which piece. */
  pieceOf(name: string): { split: NodeProto; index: number } | undefined {
    return this.pieces.get(name);
  }
  /** Pieces `from` to `to` (exclusive) of a split, as one slice of its input. */
  private sliceOfPieces(split: NodeProto, from: number, to: number, axis: number): string {
    const sizes = this.intValues.get(split.input[1])!;
    const start = sizes.slice(0, from).reduce((a, b) => a + b, 0);
    const limit = sizes.slice(0, to).reduce((a, b) => a + b, 0);
    return this.op('Slice', [split.input[0], this.ints([start]), this.ints([limit]), this.ints([axis])]);
  }
  /** Is `target` the shape a reduction without kept axes had with them (a reshape that keepdims=1 makes)? */
  private keepsReducedAxes(reduce: NodeProto, target: readonly number[]): boolean {
    const axes = this.intValues.get(reduce.input[1]);
    const from = this.shapes.get(reduce.input[0]);
    const dropped = reduce.attribute.find((a) => a.name === 'keepdims')?.i === 0n;
    return (
      dropped &&
      !!axes &&
      !!from &&
      from.length === target.length &&
      from.every((d, i) => target[i] === (axes.includes(i) ? 1 : d))
    );
  }
  /**
   * A transpose as its canonical form between reshapes, where that differs: unit axes dropped and
   * axes that stay side by side merged. ONNX Runtime's kernel is several times faster on it
   * (`[8, 1, 1024, 4, 4]` to `[1, 8, 4, 4, 1024]`: 458 µs; the same as `[8, 1024, 16]` to
   * `[8, 16, 1024]`: 97 µs); the reshapes cost nothing (they share the buffer).
   */
  private collapsedTranspose(x: string, perm: readonly number[]): string | undefined {
    const shape = this.shapes.get(x);
    // Exports at several sizes must keep one structure (a unit axis at one size need not be at another).
    // Small transposes stay as they are: the reshapes give ONNX Runtime shapes it would not know,
    // and its allocation planner pays for each known shape (DenseNet-121: +43 ms to create a step
    // session with every transpose collapsed, for ~3 ms less a step).
    if (!shape || !this.shareConstants || sizeOf(shape) < COLLAPSE_TRANSPOSES_FROM) return undefined;
    // The input axes that are not unit axes, renumbered; then runs of them that stay consecutive
    // in the output, in output order.
    const axes = shape.flatMap((d, axis) => (d === 1 ? [] : [axis]));
    const runs: number[][] = [];
    for (const axis of perm.filter((a) => shape[a] !== 1).map((a) => axes.indexOf(a))) {
      const run = runs[runs.length - 1];
      if (run && run[run.length - 1] + 1 === axis) run.push(axis);
      else runs.push([axis]);
    }
    if (runs.length === perm.length) return undefined; // nothing to drop or merge
    const inOrder = [...runs].sort((a, b) => a[0] - b[0]);
    const dims = inOrder.map((run) => run.reduce((n, axis) => n * shape[axes[axis]], 1));
    const collapsed = runs.map((run) => inOrder.indexOf(run));
    const out = this.ints(perm.map((axis) => shape[axis]));
    const y = collapsed.every((axis, i) => axis === i)
      ? this.op('Reshape', [x, out])
      : this.op('Reshape', [
          this.op('Transpose', [this.op('Reshape', [x, this.ints(dims)])], { perm: collapsed }),
          out,
        ]);
    this.transposes.set(y, { input: x, perm: [...perm] });
    return y;
  }
  /** The shape of a value, where known. */
  shapeOf(name: string): readonly number[] | undefined {
    return this.shapes.get(name);
  }
  /** The value a node reshapes into `name`, when that value is computed by a node (not an input or constant). */
  reshapeOfComputed(name: string): string | undefined {
    const node = this.nodeOf.get(name);
    const source = node?.opType === 'Reshape' && node.domain === '' ? node.input[0] : undefined;
    return source !== undefined && this.nodeOf.has(source) && !this.fixed.has(source) ? source : undefined;
  }
  /** Marks a value as a constant (a graph input stored as an initializer). */
  fix(name: string): void {
    this.fixed.add(name);
  }
  /** Is a value computed from constants only? */
  isConstant(name: string): boolean {
    return this.fixed.has(name);
  }
  ops(type: string, inputs: readonly string[], attrs: Record<string, OnnxAttr>, outputs: number): string[] {
    const output = Array.from({ length: outputs }, () => this.fresh('t'));
    const attribute_ = Object.entries(attrs).map(([k, v]) => attribute(k, v));
    const dot = type.lastIndexOf('.');
    const [domain, opType] = dot < 0 ? ['', type] : [type.slice(0, dot), type.slice(dot + 1)];
    if (domain) this.domains.add(domain);
    this.nodes.push(
      create(NodeProtoSchema, {
        opType,
        domain,
        input: [...inputs],
        output,
        attribute: attribute_,
        name: `${opType}_${output[0]}`,
      }),
    );
    const node = this.nodes[this.nodes.length - 1];
    if (outputs === 1) this.nodeOf.set(output[0], node);
    if (opType === 'Split' && !domain && this.intValues.has(inputs[1]))
      output.forEach((name, index) => this.pieces.set(name, { split: node, index }));
    if (opType === 'Reshape') {
      const target = this.intValues.get(inputs[1]);
      if (target && target.every((d) => d > 0)) this.shapes.set(output[0], target);
    } else if (!domain && BROADCASTING.has(opType)) {
      const shapes = inputs.map((i) => this.shapes.get(i));
      if (shapes.every((s) => s !== undefined)) this.shapes.set(output[0], broadcastShapes(opType, ...shapes));
    }
    if (inputs.length > 0 && inputs.every((i) => this.fixed.has(i))) output.forEach((o) => this.fixed.add(o));
    return output;
  }
  private tensor(key: string, dims: readonly number[], dataType: OnnxType, raw: Uint8Array): string {
    let name = this.constants.get(key);
    if (name === undefined) {
      name = this.fresh('c');
      this.initializers.push(create(TensorProtoSchema, { name, dims: dims.map(BigInt), dataType, rawData: raw }));
      this.fixed.add(name);
      this.shapes.set(name, dims);
      // Small constants are shared by value; big ones (weights) by identity only.
      if (key && this.shareConstants) this.constants.set(key, name);
    }
    return name;
  }
  ints(values: readonly number[]): string {
    const name = this.tensor(
      `i64:${values}`,
      [values.length],
      OnnxType.INT64,
      bytesOf(BigInt64Array.from(values, BigInt)),
    );
    this.intValues.set(name, values);
    return name;
  }
  constant(value: number | TypedArray, dtype: DType, shape: readonly number[] = []): string {
    const data = typeof value === 'number' ? scalarOf(value, dtype) : inComputeType(value, dtype);
    const key =
      data.length <= 16 ? `${dtype}:${shape}:${Array.from(data, (v) => (Object.is(v, -0) ? '-0' : String(v)))}` : '';
    return this.tensor(key, shape, ELEM(dtype), bytesOf(data));
  }
  elemType(dtype: DType | 'int64', stored = false): number {
    return dtype === 'int64' ? OnnxType.INT64 : stored ? ONNX_TYPE[dtype] : ELEM(dtype);
  }
  producer(name: string): OnnxProducer | undefined {
    return this.producers.get(name);
  }
  readers(name: string): readonly OnnxReader[] {
    return (this.varsOf.get(name) ?? []).flatMap((id) => this.readersOf.get(id) ?? []);
  }
  inline(graph: Graph, inputs: readonly string[]): string[] {
    for (const e of graph.eqns)
      e.inputs.forEach((a, operand) => {
        if (a instanceof Lit) return;
        const reader = { prim: e.prim, params: e.params, inAvals: e.inputs.map((x) => x.aval), operand };
        const readers = this.readersOf.get(a.id);
        if (readers) readers.push(reader);
        else this.readersOf.set(a.id, [reader]);
      });
    graph.inVars.forEach((v, i) => {
      this.bind(v.id, inputs[i]);
      this.shapes.set(inputs[i], v.aval.shape);
    });
    const outermost = this.depth++ === 0;
    for (const e of graph.eqns) {
      const firstNode = this.nodes.length;
      const rule = e.prim.onnx;
      if (!rule) throw new UnlowerableError(`onnx: ${e.prim.name} has no ONNX lowering`);
      const ins = e.inputs.map((a) => this.atom(a));
      // A result with no elements needs no computation (and some ONNX Runtime kernels fault on one).
      const empty = e.outs.every((v) => v.aval.shape.includes(0));
      const outs = empty
        ? e.outs.map((v) => this.constant(allocate(v.aval.dtype, 0), v.aval.dtype, v.aval.shape))
        : rule(this, ins, e.params, { ins: e.inputs.map((a) => a.aval), outs: e.outs.map((v) => v.aval) }).map(
            (name, i) => this.roundTo(e.outs[i].aval.dtype, name, e.prim.props?.view === true),
          );
      if (outermost) for (const n of this.nodes.slice(firstNode)) this.owners.set(n.name, e);
      e.outs.forEach((v, i) => {
        const existing = this.bound.has(outs[i]); // a rule that returned a value it was given
        this.bind(v.id, outs[i]);
        this.shapes.set(outs[i], v.aval.shape);
        if (!existing)
          this.producers.set(outs[i], {
            prim: e.prim,
            params: e.params,
            inputs: ins,
            inAvals: e.inputs.map((a) => a.aval),
          });
      });
    }
    this.depth--;
    return graph.outs.map((a) => this.atom(a));
  }
  /** A value computed in a wider dtype, rounded to its own (views move elements and need no rounding). */
  private roundTo(dtype: DType, name: string, exact: boolean): string {
    const compute = computeDType(dtype);
    if (compute === dtype || exact) return name;
    return this.op('Cast', [this.op('Cast', [name], { to: ONNX_TYPE[dtype] })], { to: ONNX_TYPE[compute] });
  }
}

/** Elements (as numbers or as stored) in the typed array of their compute dtype. */
function inComputeType(data: TypedArray, dtype: DType): TypedArray {
  const compute = computeDType(dtype);
  if (isHalf(dtype) && data instanceof Uint16Array) return fromStorage(dtype, data);
  return data instanceof STORAGE[compute] ? data : STORAGE[compute].from(data as ArrayLike<number>);
}

function scalarOf(value: number, dtype: DType): TypedArray {
  const data = allocate(computeDType(dtype), 1);
  data[0] = coerce(dtype, value);
  return data;
}

/** Keeps the nodes that the outputs need (rewrites leave the nodes they bypassed behind). */
function prune(nodes: NodeProto[], outputs: readonly string[]): NodeProto[] {
  const needed = new Set(outputs);
  const kept: NodeProto[] = [];
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i];
    if (!n.output.some((o) => needed.has(o))) continue;
    kept.push(n);
    n.input.forEach((x) => needed.add(x));
  }
  return kept.reverse();
}

/**
 * The nodes reordered so that each follows soon after the last node it depends on: stably sorted by
 * that node's position, twice (more passes gained nothing measurable). Dependencies still come
 * first: a node's key (its last dependency's position) exceeds the key of each of its dependencies.
 * Why: each time ONNX Runtime builds a view of the graph (five times while creating a session), it
 * sorts the nodes with a priority queue kept as a linked list, and every insertion walks the ready
 * nodes still waiting there. A node ready long before its place waits all that while (a training
 * step's `m * b1` for each parameter, ready from the start, placed after the backward pass):
 * DenseNet-121's step spent ~0.25 s of its ~1 s session creation in that walk. (The lowering emits
 * no nodes with subgraphs, which may read values they do not list as inputs.)
 */
function readyOrder(nodes: NodeProto[]): NodeProto[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => n.output.forEach((o) => producer.set(o, i)));
  const deps = nodes.map((n) => n.input.flatMap((x) => producer.get(x) ?? []));
  let order = nodes.map((_, i) => i);
  const position = new Int32Array(nodes.length);
  for (let pass = 0; pass < 2; pass++) {
    order.forEach((k, i) => (position[k] = i));
    // A stable bucket sort by the position each node follows (-1: none).
    const buckets: number[][] = Array.from({ length: nodes.length + 1 }, () => []);
    for (const k of order) {
      let last = -1;
      for (const d of deps[k]) last = Math.max(last, position[d]);
      buckets[last + 1].push(k);
    }
    const next = buckets.flat();
    if (next.every((k, i) => k === order[i])) break;
    order = next;
  }
  return order.map((k) => nodes[k]);
}

/** Operators whose output ONNX Runtime may give their (first) input's memory instead of a copy. */
const ALIASING = new Set(['Reshape', 'Squeeze', 'Unsqueeze', 'Flatten', 'Identity']);

type Described = { name: string; type: OnnxType; size: number };
/**
 * For each output, the inputs (by position) whose memory it may be written into: of its element
 * type and size, read (directly or through views of it) only by nodes that run before the node that
 * writes the output (its ancestors), which therefore never reads it itself, and never an output
 * through a view. Every executor, sequential or parallel, runs a node after its ancestors, so those
 * reads are over before the write starts. `nodes` must be in a topological order.
 */
export function overwritableInputs(nodes: NodeProto[], inputs: Described[], outputs: Described[]): number[][] {
  const result = outputs.map((): number[] => []);
  const kind = (d: Described) => `${d.type}:${d.size}`;
  const push = <K>(m: Map<K, number[]>, key: K, value: number) => {
    const list = m.get(key);
    if (list) list.push(value);
    else m.set(key, [value]);
  };
  const inputsOfKind = new Map<string, number[]>();
  inputs.forEach((x, i) => x.size > 0 && push(inputsOfKind, kind(x), i));
  const wanted = outputs.flatMap((o, j) => (inputsOfKind.has(kind(o)) ? [j] : []));
  if (!wanted.length) return result;
  const producer = new Map<string, number>();
  const consumers = new Map<string, number[]>();
  nodes.forEach((n, k) => {
    for (const v of n.output) producer.set(v, k);
    for (const v of n.input) push(consumers, v, k);
  });
  // below[k]: the wanted outputs whose writer runs strictly after node k, one bit each.
  const words = (wanted.length + 31) >>> 5;
  const below = new Uint32Array(nodes.length * words);
  const writes = new Map<number, number[]>(); // node -> bits of the wanted outputs it writes
  wanted.forEach((j, bit) => {
    const k = producer.get(outputs[j].name);
    if (k !== undefined) push(writes, k, bit);
  });
  for (let k = nodes.length - 1; k >= 0; k--)
    for (const v of nodes[k].output)
      for (const c of consumers.get(v) ?? []) {
        for (let w = 0; w < words; w++) below[k * words + w] |= below[c * words + w];
        for (const bit of writes.get(c) ?? []) below[k * words + (bit >>> 5)] |= 1 << (bit & 31);
      }
  const outputNames = new Set(outputs.map((o) => o.name));
  // The nodes reading each input, through views; null where a view of it is an output.
  const readers = inputs.map((x) => {
    const found: number[] = [];
    const stack = [x.name];
    while (stack.length) {
      const v = stack.pop()!;
      if (v !== x.name && outputNames.has(v)) return null;
      for (const c of consumers.get(v) ?? []) {
        found.push(c);
        if (ALIASING.has(nodes[c].opType)) stack.push(nodes[c].output[0]);
      }
    }
    return found;
  });
  wanted.forEach((j, bit) => {
    if (!producer.has(outputs[j].name)) return;
    result[j] = inputsOfKind
      .get(kind(outputs[j]))!
      .filter((i) => readers[i]?.every((k) => below[k * words + (bit >>> 5)] & (1 << (bit & 31))));
  });
  return result;
}

/** A model output that carries several of the graph's, flattened end to end (see {@link LowerOptions.packBelow}). */
export interface Pack {
  name: string;
  /** Positions among the graph's outputs, each with its offset in the pack. */
  members: { index: number; offset: number }[];
  size: number;
}

/** Names of a lowered model's inputs and outputs, in the graph's order. */
export interface LoweredModel {
  bytes: Uint8Array;
  /** The model's inputs for the graph's inputs that are not initializers, in order. */
  inputs: string[];
  /** The model's outputs for the graph's outputs that are not packed, in order. */
  outputs: string[];
  /**
   * The shape each of those outputs has as computed, where known: an output declared without a
   * shape ({@link LowerOptions.looseOutputShapes}) may drop or add unit axes.
   */
  outputShapes: (readonly number[] | undefined)[];
  /** Outputs packed by element type (none unless {@link LowerOptions.packBelow} is set). */
  packedOutputs: Pack[];
  /** The equation of the graph that emitted each node, by node name (to name what a runtime refuses). */
  owners: ReadonlyMap<string, Eqn>;
  /**
   * For each of `outputs`, the `inputs` whose memory it may be written into: of its type and size,
   * read only by nodes that run before the output is written. A training step's new optimizer
   * state can take the old one's place.
   */
  overwritable: number[][];
}

/** ONNX operators whose output has their inputs' broadcast shape. */
const BROADCASTING = new Set(
  (
    'Abs Add And Cast Ceil Clip Cos Div Equal Erf Exp Floor Greater GreaterOrEqual IsInf IsNaN Less LessOrEqual Log ' +
    'Max Min Mod Mul Neg Not Or Pow Reciprocal Relu Round Sigmoid Sign Sin Sqrt Sub Tanh Where Xor'
  ).split(' '),
);

/** Options of {@link lowerGraph}. */
export interface LowerOptions {
  /** Graph inputs stored in the model as initializers (parameters of an exported model), by position. */
  initializers?: ReadonlyMap<number, { data: TypedArray; aval: ShapedArray }>;
  inputNames?: readonly string[];
  outputNames?: readonly string[];
  name?: string;
  /**
   * Inputs, outputs and initializers in each dtype's own ONNX type (float16 as FLOAT16, int8 as
   * INT8), as an exported file keeps them; by default they are in the compute dtype (float16 and
   * bfloat16 as float32, the small integers as int32), as the CPU backend feeds them.
   */
  storedTypes?: boolean;
  /**
   * ONNX Runtime's NCHWc block size here, or a function that finds it (called only if a
   * convolution lowers): convolutions may then use its blocked kernels (see {@link OnnxEmitter}).
   */
  nchwcBlock?: number | (() => number | undefined);
  /** A model for any runtime (an export): no lowerings chosen by size for ONNX Runtime's CPU kernels. */
  portable?: boolean;
  /**
   * Every constant its own initializer, even where values repeat, so lowerings at different sizes
   * have the same structure (exports with dynamic axes compare them).
   */
  distinctConstants?: boolean;
  /**
   * Outputs may come out in any shape with their elements in order (the CPU backend reads them
   * with the graph's own shapes): an output that is a reshape of a computed value is that value.
   * ONNX Runtime copies a reshape into a graph output (its buffer cannot be the input's); the
   * lowering reshapes often (unit axes dropped around elementwise ops), so a training step's new
   * 1x1 filters and their Adam moments were each copied once more.
   */
  looseOutputShapes?: boolean;
  /**
   * Declares the shapes of inputs of at least this many elements only, for graphs ONNX Runtime
   * compiles without its optimiser (which needs shapes). Its allocation planner scans every freed
   * buffer for each value whose shape it knows, to reuse one of the same size: quadratic where many
   * distinct small sizes are freed, as in a training step's per-parameter optimizer chains
   * (DenseNet-121: 0.5 of 1.5 s to create the session). Its arena reuses those at run time; large
   * values keep their shapes, so they are still updated in place.
   */
  shapedInputsFrom?: number;
  /**
   * Outputs of fewer elements than this come back packed: flattened and concatenated into one model
   * output per element type, where two or more qualify. onnxruntime-node allocates and copies each
   * output on its own: a DenseNet-121 step's ~1,100 small outputs (batch norm's statistics and
   * parameters, their Adam moments) cost ~15 of its ~215 ms. (Inputs cost little: packing them
   * gained nothing measurable.)
   */
  packBelow?: number;
}

/** Lowers a whole graph to the bytes of an ONNX model (throws {@link UnlowerableError} if a primitive has no rule). */
export function lowerGraph(g: Graph, opts: LowerOptions = {}): LoweredModel {
  const b = new Builder(opts.nchwcBlock, !opts.distinctConstants, opts.portable);
  const inputs: ValueInfoProto[] = [];
  const boundaryType = (d: DType) => (opts.storedTypes ? ONNX_TYPE[d] : ELEM(d));
  const inNames = g.inVars.map((v, i) => {
    const init = opts.initializers?.get(i);
    const name = opts.inputNames?.[i] ?? `in${i}`;
    if (init) {
      b.initializers.push(
        create(TensorProtoSchema, {
          name,
          dims: init.aval.shape.map(BigInt),
          dataType: boundaryType(init.aval.dtype),
          rawData: bytesOf(init.data),
        }),
      );
      b.fix(name);
    } else
      inputs.push(
        valueInfo(name, v.aval.shape, boundaryType(v.aval.dtype), sizeOf(v.aval.shape) >= (opts.shapedInputsFrom ?? 0)),
      );
    return name;
  });
  const widened = inNames.map((name, i) => {
    const d = g.inVars[i].aval.dtype;
    return boundaryType(d) === ELEM(d) ? name : b.op('Cast', [name], { to: ELEM(d) });
  });
  const loose = new Map<number, readonly number[] | undefined>(); // output -> its shape as computed
  const values = b.inline(g, widened).map((v, i) => {
    const d = g.outs[i].aval.dtype;
    const value = boundaryType(d) === ELEM(d) ? v : b.op('Cast', [v], { to: boundaryType(d) });
    const source = opts.looseOutputShapes ? b.reshapeOfComputed(value) : undefined;
    if (source) loose.set(i, b.shapeOf(source));
    return source ?? value;
  });
  const packOut: Pack[] = packs(g.outs, boundaryType, opts.packBelow).map((p) => {
    const flat = p.members.map((m) => b.op('Reshape', [values[m.index], b.ints([sizeOf(g.outs[m.index].aval.shape)])]));
    // Pieces of one split go side by side, in their order, to rejoin (an optimizer's moments
    // alternate between parameters in the outputs); the rest keep theirs.
    const firstOfSplit = new Map<NodeProto, number>();
    const keys = flat.map((name, k) => {
      const piece = b.pieceOf(name);
      if (!piece) return [k, 0];
      if (!firstOfSplit.has(piece.split)) firstOfSplit.set(piece.split, k);
      return [firstOfSplit.get(piece.split)!, piece.index];
    });
    const order = flat.map((_, k) => k).sort((i, j) => keys[i][0] - keys[j][0] || keys[i][1] - keys[j][1]);
    let offset = 0;
    const members = order.map((k) => {
      const m = { index: p.members[k].index, offset };
      offset += sizeOf(g.outs[m.index].aval.shape);
      return m;
    });
    const name = b.op(
      'Concat',
      order.map((k) => flat[k]),
      { axis: 0 },
    );
    // Members that rejoin into an input are that input: an output of its own needs a node.
    return { ...p, members, name: b.nodes.some((n) => n.output.includes(name)) ? name : b.op('Identity', [name]) };
  });
  const packedOut = new Set(packOut.flatMap((p) => p.members.map((m) => m.index)));
  // Graph outputs need names of their own: an output that is an input, a constant or a repeat gets an Identity.
  const finalName = new Map<string, string>();
  const computed = new Set(b.nodes.flatMap((n) => n.output));
  const inputSet = new Set(inNames);
  const outNames = values.map((v, i) => {
    if (packedOut.has(i)) return '';
    const want = opts.outputNames?.[i];
    if (!finalName.has(v) && !inputSet.has(v) && computed.has(v)) {
      if (want) renameOutput(b.nodes, v, want);
      finalName.set(v, want ?? v);
      return want ?? v;
    }
    const name = want ?? b.fresh('out');
    b.nodes.push(
      create(NodeProtoSchema, {
        opType: 'Identity',
        input: [finalName.get(v) ?? v],
        output: [name],
        name: `Identity_${name}`,
      }),
    );
    return name;
  });
  const singleOutputs = outNames.filter((_, i) => !packedOut.has(i));
  const nodes = readyOrder(prune(b.nodes, [...singleOutputs, ...packOut.map((p) => p.name)]));
  const used = new Set(nodes.flatMap((n) => n.input));
  const graph = create(GraphProtoSchema, {
    name: opts.name ?? 'fluxion',
    node: nodes,
    initializer: b.initializers.filter((t) => used.has(t.name)),
    input: inputs,
    output: [
      ...outNames.flatMap((n, i) =>
        packedOut.has(i) ? [] : [valueInfo(n, g.outs[i].aval.shape, boundaryType(g.outs[i].aval.dtype), !loose.has(i))],
      ),
      ...packOut.map((p) => valueInfo(p.name, [p.size], boundaryType(g.outs[p.members[0].index].aval.dtype))),
    ],
  });
  const model = create(ModelProtoSchema, {
    irVersion: IR_VERSION,
    producerName: 'fluxion',
    opsetImport: [{ domain: '', version: BigInt(OPSET) }, ...[...b.domains].map((domain) => ({ domain, version: 1n }))],
    graph,
  });
  const inAval = new Map(g.inVars.map((v, i) => [inNames[i], v.aval]));
  const outAval = new Map(outNames.map((n, i) => [n, g.outs[i].aval]));
  const described = (names: string[], avals: Map<string, ShapedArray>) =>
    names.map((name) => {
      const a = avals.get(name)!;
      return { name, type: boundaryType(a.dtype), size: sizeOf(a.shape) };
    });
  return {
    bytes: toBinary(ModelProtoSchema, model),
    overwritable: overwritableInputs(
      nodes,
      described(
        inputs.map((i) => i.name),
        inAval,
      ),
      described(singleOutputs, outAval),
    ),
    inputs: inputs.map((i) => i.name),
    outputs: singleOutputs,
    outputShapes: g.outs.flatMap((v, i) => (packedOut.has(i) ? [] : [loose.has(i) ? loose.get(i) : v.aval.shape])),
    packedOutputs: packOut,
    owners: b.owners,
  };
}

/** Groups of two or more values under `below` elements (none empty), by element type, laid end to end. */
function packs(
  values: readonly { aval: ShapedArray }[],
  typeOf: (d: DType) => OnnxType,
  below = 0,
): Omit<Pack, 'name'>[] {
  const groups = new Map<OnnxType, Omit<Pack, 'name'>>();
  values.forEach(({ aval }, index) => {
    const size = sizeOf(aval.shape);
    if (size === 0 || size >= below) return;
    const type = typeOf(aval.dtype);
    let p = groups.get(type);
    if (!p) groups.set(type, (p = { members: [], size: 0 }));
    p.members.push({ index, offset: p.size });
    p.size += size;
  });
  return [...groups.values()].filter((p) => p.members.length > 1);
}

function renameOutput(nodes: NodeProto[], from: string, to: string) {
  for (const n of nodes) {
    n.output = n.output.map((o) => (o === from ? to : o));
    n.input = n.input.map((x) => (x === from ? to : x));
  }
}
