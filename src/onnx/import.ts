/**
 * ONNX import: a `.onnx` model becomes a pure Fluxion function of its parameters, built from
 * Fluxion operations, so `jit`, `grad` and `vmap` apply to it. The file is untrusted input:
 * every size, name and reference is checked before anything is allocated or run.
 * @module
 */
import { fromBinary } from '@bufbuild/protobuf';
import { type Array, Array as ArrayClass, ConcreteArray } from '../core/array.js';
import { checkOptions, t } from '../core/options.js';
import * as random from '../random.js';
import type { Key } from '../random.js';
import { randomOps } from './random.js';
import { allocate, fromBfloat16Bits, fromFloat16Bits, intRange, isFloat } from '../core/dtype.js';
import { FluxionError } from '../core/errors.js';
import * as np from '../np/index.js';
import {
  type AttributeProto,
  AttributeProto_AttributeType as AttrType,
  type GraphProto,
  type ModelProto,
  ModelProtoSchema,
  type NodeProto,
  type TensorProto,
  TensorProto_DataType as T,
  type TypeProto,
} from './generated/onnx_pb.js';
import { OPS, type OpContext } from './ops.js';
import { trainingOps } from './training.js';
import { type OnnxValue, sequenceOps } from './sequence.js';
import { stagedWith } from '../core/trace.js';
import { OnnxImportError, TYPE_NAMES, fluxionDType } from './types.js';

export { OnnxImportError, fluxionDType };

/** A model file this large or larger is refused (protobuf's own limit is 2 GiB). */
const MAX_BYTES = 2 ** 31 - 1;
/** Elements in one tensor, at most (int32 indexing). */
const MAX_ELEMENTS = 2 ** 31 - 1;

/** A graph input or output: its name, dimensions (symbolic ones by name) and element type. @category ONNX */
export interface OnnxValueInfo {
  name: string;
  shape: (number | string)[];
  /** The ONNX element type's name (`float`, `int64`, ...); Fluxion computes in {@link fluxionDType} of it. */
  elemType: string;
}

/** Options an imported model's function takes after its inputs. @category ONNX */
export interface OnnxRunOptions {
  /**
   * The key the model's random operators (`RandomNormal`, `Bernoulli`, `Multinomial`, ...) draw
   * from, each node its own stream; without one they use their `seed` attribute or refuse.
   */
  key?: Key;
}

/** An imported model. @category ONNX */
export interface ImportedModel {
  /**
   * `fn(params, ...inputs)`: the model as a Fluxion function (outputs in the model's order);
   * `fn(params, ...inputs, { key })` for models that draw random numbers.
   */
  fn: (params: Record<string, Array>, ...inputs: Array[] | [...Array[], OnnxRunOptions]) => Array[];
  /**
   * The same for models whose inputs or outputs include sequences (lists of arrays) or optionals
   * (`null` when empty), which `fn` refuses.
   */
  values: (params: Record<string, Array>, ...inputs: OnnxValue[] | [...OnnxValue[], OnnxRunOptions]) => OnnxValue[];
  /** The float initializers by name (the trainable parameters). Integer initializers are constants of `fn`. */
  params: Record<string, Array>;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  /** The operator set version the model imports. */
  opset: number;
}

/**
 * An int64 element as a number. The int64 limits, which exporters write for "to the end" in
 * Slice bounds, become the int32 limits (exact there, as no axis is that long); any other value
 * beyond int32 stays as it is and is refused below.
 */
const int64 = (v: bigint) => (v === 2n ** 63n - 1n ? 2 ** 31 - 1 : v === -(2n ** 63n) ? -(2 ** 31) : Number(v));

/** Checks dims (non-negative integers whose product fits) and returns the element count. */
function elementCount(dims: readonly (number | bigint)[], where: string): number {
  let n = 1;
  for (const d of dims) {
    const v = Number(d);
    if (!Number.isSafeInteger(v) || v < 0)
      throw new OnnxImportError(`${where}: dimension ${d} is not a non-negative integer`);
    n *= v;
    if (n > MAX_ELEMENTS)
      throw new OnnxImportError(`${where}: ${dims.join('x')} elements exceed the limit of ${MAX_ELEMENTS}`);
  }
  return n;
}

/** Converts a TensorProto (raw or typed fields) to a Fluxion array, checking its size and values. */
export function tensorToArray(t: TensorProto, where = `tensor '${t.name}'`): ConcreteArray {
  if (t.dataLocation === 1 || t.externalData.length)
    throw new OnnxImportError(`${where}: external data is not supported`);
  const shape = t.dims.map(Number);
  const n = elementCount(t.dims, where);
  const dtype = fluxionDType(t.dataType, where);
  const widths: Record<number, number> = {
    [T.FLOAT]: 4,
    [T.UINT8]: 1,
    [T.INT8]: 1,
    [T.UINT16]: 2,
    [T.INT16]: 2,
    [T.INT32]: 4,
    [T.INT64]: 8,
    [T.BOOL]: 1,
    [T.FLOAT16]: 2,
    [T.DOUBLE]: 8,
    [T.UINT32]: 4,
    [T.UINT64]: 8,
    [T.BFLOAT16]: 2,
  };
  const values: number[] | Float64Array = new Float64Array(n);
  const put = (read: (i: number) => number, have: number) => {
    if (have !== n) throw new OnnxImportError(`${where}: declares ${n} elements ([${shape}]) but holds ${have}`);
    for (let i = 0; i < n; i++) values[i] = read(i);
  };
  if (t.rawData.length) {
    const w = widths[t.dataType];
    if (t.rawData.length !== n * w)
      throw new OnnxImportError(`${where}: declares ${n} elements ([${shape}]) but holds ${t.rawData.length} bytes`);
    const v = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
    const readers: Record<number, (i: number) => number> = {
      [T.FLOAT]: (i) => v.getFloat32(4 * i, true),
      [T.DOUBLE]: (i) => v.getFloat64(8 * i, true),
      [T.FLOAT16]: (i) => fromFloat16Bits(v.getUint16(2 * i, true)),
      [T.BFLOAT16]: (i) => fromBfloat16Bits(v.getUint16(2 * i, true)),
      [T.INT8]: (i) => v.getInt8(i),
      [T.UINT8]: (i) => v.getUint8(i),
      [T.INT16]: (i) => v.getInt16(2 * i, true),
      [T.UINT16]: (i) => v.getUint16(2 * i, true),
      [T.INT32]: (i) => v.getInt32(4 * i, true),
      [T.UINT32]: (i) => v.getUint32(4 * i, true),
      [T.INT64]: (i) => int64(v.getBigInt64(8 * i, true)),
      [T.UINT64]: (i) => Number(v.getBigUint64(8 * i, true)),
      [T.BOOL]: (i) => (v.getUint8(i) ? 1 : 0),
    };
    put(readers[t.dataType], n);
  } else if (t.dataType === T.FLOAT) put((i) => t.floatData[i], t.floatData.length);
  else if (t.dataType === T.DOUBLE) put((i) => t.doubleData[i], t.doubleData.length);
  else if (t.dataType === T.INT64) put((i) => int64(t.int64Data[i]), t.int64Data.length);
  else if (t.dataType === T.UINT32 || t.dataType === T.UINT64) put((i) => Number(t.uint64Data[i]), t.uint64Data.length);
  else if (t.dataType === T.FLOAT16) put((i) => fromFloat16Bits(t.int32Data[i]), t.int32Data.length);
  else if (t.dataType === T.BFLOAT16) put((i) => fromBfloat16Bits(t.int32Data[i]), t.int32Data.length);
  else put((i) => t.int32Data[i], t.int32Data.length);
  const data = allocate(dtype, n);
  if (isFloat(dtype)) data.set(values);
  else {
    const [lo, hi] = intRange(dtype);
    for (let i = 0; i < n; i++) {
      const x = dtype === 'bool' ? (values[i] ? 1 : 0) : values[i];
      if (x < lo || x > hi)
        throw new OnnxImportError(
          `${where}: value ${x} does not fit ${dtype} (Fluxion holds ${TYPE_NAMES[t.dataType]} as ${dtype})`,
        );
      data[i] = x;
    }
  }
  return new ConcreteArray(data, shape, dtype);
}

/** Node attributes by name, read on demand with defaults. */
export class Attributes {
  private readonly byName = new Map<string, AttributeProto>();
  constructor(
    node: NodeProto,
    private readonly where: string,
  ) {
    for (const a of node.attribute) this.byName.set(a.name, a);
  }
  has(name: string): boolean {
    return this.byName.has(name);
  }
  int(name: string, dflt?: number): number {
    const a = this.byName.get(name);
    if (!a) return this.missing(name, dflt);
    return Number(a.i);
  }
  float(name: string, dflt?: number): number {
    const a = this.byName.get(name);
    return a ? a.f : this.missing(name, dflt);
  }
  ints(name: string, dflt?: number[]): number[] {
    const a = this.byName.get(name);
    return a ? a.ints.map(Number) : this.missing(name, dflt);
  }
  floats(name: string, dflt?: number[]): number[] {
    const a = this.byName.get(name);
    return a ? [...a.floats] : this.missing(name, dflt);
  }
  strings(name: string, dflt?: string[]): string[] {
    const a = this.byName.get(name);
    return a ? a.strings.map((b) => new TextDecoder().decode(b)) : this.missing(name, dflt);
  }
  string(name: string, dflt?: string): string {
    const a = this.byName.get(name);
    return a ? new TextDecoder().decode(a.s) : this.missing(name, dflt);
  }
  tensor(name: string): ConcreteArray | undefined {
    const a = this.byName.get(name);
    return a?.t ? tensorToArray(a.t, `${this.where} attribute ${name}`) : undefined;
  }
  graph(name: string): GraphProto | undefined {
    const a = this.byName.get(name);
    return a?.type === AttrType.GRAPH ? a.g : undefined;
  }
  private missing<V>(name: string, dflt: V | undefined): V {
    if (dflt === undefined) throw new OnnxImportError(`${this.where}: attribute '${name}' is required`);
    return dflt;
  }
}

function valueInfo(v: GraphProto['input'][number]): OnnxValueInfo {
  const t = v.type?.value;
  // Sequences and optionals: `sequence(float)`, `optional(sequence(int64))`, ...
  const kind = (type: TypeProto | undefined): string => {
    const u = type?.value;
    if (u?.case === 'tensorType') return TYPE_NAMES[u.value.elemType] ?? String(u.value.elemType);
    if (u?.case === 'sequenceType') return `sequence(${kind(u.value.elemType)})`;
    if (u?.case === 'optionalType') return `optional(${kind(u.value.elemType)})`;
    return 'unknown';
  };
  if (t?.case !== 'tensorType') return { name: v.name, shape: [], elemType: kind(v.type) };
  const dims = t.value.shape?.dim ?? [];
  return {
    name: v.name,
    shape: dims.map((d) =>
      d.value.case === 'dimValue' ? Number(d.value.value) : d.value.case === 'dimParam' ? d.value.value : '?',
    ),
    elemType: TYPE_NAMES[t.value.elemType] ?? String(t.value.elemType),
  };
}

function decode(bytes: Uint8Array): ModelProto {
  if (!(bytes instanceof Uint8Array))
    throw new OnnxImportError('onnx.load: expected the bytes of an .onnx file (a Uint8Array)');
  if (bytes.length >= MAX_BYTES)
    throw new OnnxImportError(`onnx.load: ${bytes.length} bytes exceed the 2 GiB protobuf limit`);
  try {
    return fromBinary(ModelProtoSchema, bytes);
  } catch (e) {
    throw new OnnxImportError(`onnx.load: not a valid ONNX model (${(e as Error).message.slice(0, 120)})`);
  }
}

/**
 * Imports an ONNX model. `fn(params, ...inputs)` evaluates its graph with Fluxion operations;
 * `params` holds the float initializers by name, so the model can be fine-tuned with `grad` and
 * an optimizer.
 * @example
 * const { fn, params, inputs } = onnx.load(fs.readFileSync('model.onnx'));
 * const [logits] = fn(params, np.zeros(inputs[0].shape as number[]));
 * @category ONNX
 */
export function load(bytes: Uint8Array): ImportedModel {
  const model = decode(bytes);
  const graph = model.graph;
  if (!graph) throw new OnnxImportError('onnx.load: the model has no graph');
  const opsets = model.opsetImport.filter((o) => o.domain === '' || o.domain === 'ai.onnx');
  const foreign = model.opsetImport.find((o) => o.domain !== '' && o.domain !== 'ai.onnx');
  const opset = opsets.length ? Number(opsets[0].version) : 1;
  const initial = new Map<string, ConcreteArray>();
  for (const t of graph.initializer) {
    if (!t.name) throw new OnnxImportError('onnx.load: an initializer has no name');
    initial.set(t.name, tensorToArray(t, `initializer '${t.name}'`));
  }
  const inputs = graph.input.filter((v) => !initial.has(v.name)).map(valueInfo);
  const outputs = graph.output.map(valueInfo);
  for (const v of [...inputs, ...outputs]) {
    if (v.elemType.includes('unknown'))
      throw new OnnxImportError(
        `onnx.load: '${v.name}' is neither a tensor, a sequence nor an optional (maps are not supported)`,
      );
  }
  const tensorsOnly = [...inputs, ...outputs].every((v) => !/^(sequence|optional)\(/.test(v.elemType));
  checkGraph(graph, new Set([...initial.keys(), ...inputs.map((i) => i.name)]), foreign?.domain);
  const params: Record<string, Array> = Object.create(null);
  for (const [name, v] of initial) if (isFloat(v.dtype)) params[name] = v;
  const values = (p: Record<string, Array>, ...args: OnnxValue[] | [...OnnxValue[], OnnxRunOptions]): OnnxValue[] => {
    const last = args.at(-1);
    const hasOptions = args.length === inputs.length + 1 && isOptions(last);
    const opts = checkOptions('onnx model', { key: t.any }, hasOptions ? last : undefined);
    const xs = (hasOptions ? args.slice(0, -1) : args) as OnnxValue[];
    if (xs.length !== inputs.length)
      throw new OnnxImportError(
        `onnx model: called with ${xs.length} inputs, expected ${inputs.length} (${inputs.map((i) => i.name)})`,
      );
    const env = new Map<string, OnnxValue>();
    for (const [name, v] of initial) env.set(name, isFloat(v.dtype) && p[name] !== undefined ? p[name] : v);
    if (opts.key !== undefined) env.set(RANDOM_KEY, opts.key as Array);
    const value = (x: OnnxValue): OnnxValue =>
      x === null ? null : globalThis.Array.isArray(x) ? x.map(value) : np.asarray(x);
    inputs.forEach((info, i) => env.set(info.name, value(xs[i])));
    return runGraph(graph, env, opset).map((v, i) => {
      if (v === undefined) throw new OnnxImportError(`onnx model: output '${outputs[i].name}' is never computed`);
      return v;
    });
  };
  const fn = (p: Record<string, Array>, ...xs: Array[] | [...Array[], OnnxRunOptions]): Array[] => {
    if (!tensorsOnly)
      throw new OnnxImportError(
        'onnx model: it takes or returns sequences or optionals: call `values` instead of `fn`',
      );
    return values(p, ...xs) as Array[];
  };
  return { fn, values, params, inputs, outputs, opset };
}

/** Where a model's random key lives in its environment (a name no ONNX value can have). */
const RANDOM_KEY = '\u0000key';
const isOptions = (x: unknown): x is OnnxRunOptions =>
  typeof x === 'object' && x !== null && !(x instanceof ArrayClass) && !globalThis.Array.isArray(x);

/** A node's random key: the model's key folded with the node's first output name, else its seed. */
function nodeKey(base: Array | undefined, node: NodeProto, attrs: Attributes, where: string): Key {
  if (base) {
    let h = 0x811c9dc5; // FNV-1a of the output name: a stable stream per node
    for (const c of node.output[0] ?? '') h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
    return random.foldIn(base, h);
  }
  if (attrs.has('seed')) return random.key(Math.trunc(attrs.float('seed')));
  throw new OnnxImportError(`${where}: the model draws random numbers: pass a key, fn(params, ...inputs, { key })`);
}

/** Refuses graphs with unknown operators, cycles or undefined inputs before anything runs. */
function checkGraph(graph: GraphProto, defined: Set<string>, foreignDomain: string | undefined): void {
  const known = new Set(defined);
  graph.node.forEach((node, i) => {
    const where = `node ${node.name || i} (${node.opType})`;
    const table = opsOf(node.domain);
    if (!table)
      throw new OnnxImportError(
        `${where}: operator domain '${node.domain}' is not supported${foreignDomain ? '' : ''}`,
      );
    if (!table[node.opType] && !(table === OPS && sequenceOps[node.opType]))
      throw new OnnxImportError(`${where}: operator ${node.opType} is not supported`);
    for (const x of node.input) {
      if (x !== '' && !known.has(x))
        throw new OnnxImportError(`${where}: input '${x}' is not defined before it (a cycle or a missing value)`);
    }
    node.output.forEach((o) => o && known.add(o));
  });
  for (const o of graph.output)
    if (!known.has(o.name)) throw new OnnxImportError(`graph output '${o.name}' is not produced by any node`);
}

/** The operators of a domain (the default one, or the training operators' preview domain). */
const opsOf = (domain: string) =>
  domain === '' || domain === 'ai.onnx' ? OPS : domain === 'ai.onnx.preview.training' ? trainingOps : undefined;

/** Evaluates a graph's nodes in order over an environment of named values (sub-graphs see the outer scope). */
export function runGraph(graph: GraphProto, env: Map<string, OnnxValue>, opset: number): (OnnxValue | undefined)[] {
  graph.node.forEach((node, i) => {
    const where = `node ${node.name || i} (${node.opType})`;
    const ins = node.input.map((x) => (x === '' ? undefined : env.get(x)));
    const valueOp = opsOf(node.domain) === OPS ? sequenceOps[node.opType] : undefined;
    // Sequences and optionals go only to the operators that take them (and into control flow's bodies).
    if (!valueOp && !hasSubgraph(node))
      ins.forEach((x, k) => {
        if (x === null || globalThis.Array.isArray(x))
          throw new OnnxImportError(
            `${where}: input ${k} is ${x === null ? 'an empty optional' : 'a sequence'}, where a tensor is expected`,
          );
      });
    const attrs = new Attributes(node, where);
    const ctx: OpContext = {
      attrs,
      where,
      opset,
      outputs: node.output.length,
      env,
      run: runGraph,
      key: () => nodeKey(env.get(RANDOM_KEY) as Array | undefined, node, attrs, where),
    };
    let outs: (OnnxValue | undefined)[];
    try {
      // Nodes of known values fold to known values even while a transform traces the model (shape
      // arithmetic such as Shape -> Gather -> Concat -> Expand must stay constant under grad and jit).
      const known = ins.every((x) => x === undefined || x instanceof ConcreteArray) && !randomOps[node.opType];
      const apply = () => (valueOp ? valueOp(ins, ctx) : opsOf(node.domain)![node.opType](ins as Array[], ctx));
      outs = known && !hasSubgraph(node) ? stagedWith(ConcreteArray.scalar(0, 'int32'), apply) : apply();
    } catch (e) {
      if (e instanceof FluxionError && e.message.startsWith(where)) throw e;
      throw new OnnxImportError(`${where}: ${(e as Error).message}`);
    }
    node.output.forEach((o, k) => {
      if (o && outs[k] !== undefined) env.set(o, outs[k]!);
    });
  });
  return graph.output.map((o) => env.get(o.name));
}

/** Control-flow nodes (If, Loop, Scan) read outer values inside their bodies: never folded. */
const hasSubgraph = (node: NodeProto) => node.attribute.some((a) => a.type === AttrType.GRAPH);
