/**
 * Symbolic dimensions in exported models. Fluxion traces with concrete shapes, so an export with
 * dynamic axes lowers the function at several sizes of each named axis and reads off how every
 * constant depends on them. Shape constants are multilinear in the sizes (`batch`, `batch*seq`,
 * `4*batch`), found exactly from the corners of a cube of sizes and checked at one more point; they
 * become a few integer nodes on the inputs' `Shape`. Constant fills whose shape follows an axis (an
 * RNN's zero initial state) become `Expand`s. Anything else that changes with a size cannot be
 * expressed in ONNX shapes, and the export says which node and size.
 * @module
 */
import { create, equals, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ValueError, fmtShape } from '../core/errors.js';
import {
  type GraphProto,
  type ModelProto,
  ModelProtoSchema,
  type NodeProto,
  NodeProtoSchema,
  type TensorProto,
  TensorProto_DataType as OnnxType,
  TensorProtoSchema,
  type ValueInfoProto,
  AttributeProto_AttributeType as AttrType,
  AttributeProtoSchema,
} from './generated/onnx_pb.js';

/** A named size: its symbol and the size the export is traced at first. */
export interface DynamicSymbol {
  name: string;
  base: number;
}

/** Where each symbol appears: graph inputs by name and axis. */
export interface DynamicBinding {
  input: string;
  axis: number;
  symbol: number;
}

/** A dimension of a graph output to name (it must follow some symbol). */
export interface OutputAxisName {
  output: string;
  axis: number;
  name: string;
}

/** Polynomial in the sizes: coefficient per subset of symbols (bit mask → coefficient). */
type Poly = Map<number, number>;

const bits = (mask: number, m: number) => Array.from({ length: m }, (_, k) => k).filter((k) => mask & (1 << k));

/** Fits the multilinear polynomial through the values at the cube's corners (`base + bit`). */
function fit(values: number[], bases: number[]): Poly {
  const m = bases.length,
    corners = 1 << m;
  // Coefficients in the offsets δ_k = s_k - base_k (Möbius inversion over the subsets)…
  const inOffsets = Array.from({ length: corners }, (_, s) => {
    let sum = 0;
    for (let t = 0; t < corners; t++) if ((t & s) === t) sum += (bits(s & ~t, m).length % 2 ? -1 : 1) * values[t];
    return sum;
  });
  // …then in the sizes themselves: Π(s_k - base_k) expanded.
  const poly: Poly = new Map();
  for (let t = 0; t < corners; t++) {
    let a = 0;
    for (let s = 0; s < corners; s++)
      if ((s & t) === t) a += inOffsets[s] * bits(s & ~t, m).reduce((p, k) => p * -bases[k], 1);
    if (a !== 0) poly.set(t, a);
  }
  return poly;
}

const evaluate = (p: Poly, sizes: number[]) =>
  [...p].reduce((sum, [mask, a]) => sum + a * bits(mask, sizes.length).reduce((q, k) => q * sizes[k], 1), 0);

const isConstant = (p: Poly) => [...p.keys()].every((mask) => mask === 0);

function format(p: Poly, names: string[]): string {
  const terms = [...p]
    .sort(([a], [b]) => b - a)
    .map(([mask, a]) => {
      const factors = bits(mask, names.length).map((k) => names[k]);
      if (factors.length === 0) return String(a);
      return (a === 1 ? '' : a === -1 ? '-' : `${a}*`) + factors.join('*');
    });
  return terms.join('+').replace(/\+-/g, '-') || '0';
}

/** The elements of a numeric constant as numbers (undefined for types sizes never reach). */
function numericValues(t: TensorProto): number[] | undefined {
  const raw = t.rawData.slice().buffer;
  switch (t.dataType) {
    case OnnxType.INT64:
      return Array.from(new BigInt64Array(raw), Number);
    case OnnxType.INT32:
      return Array.from(new Int32Array(raw));
    case OnnxType.FLOAT:
      return Array.from(new Float32Array(raw));
    case OnnxType.DOUBLE:
      return Array.from(new Float64Array(raw));
    default:
      return undefined;
  }
}

/**
 * Builds the export at every corner of the cube of sizes (and one check point), then turns the
 * base model's size-dependent constants into shape computations and names the dynamic dimensions.
 */
export function withDynamicAxes(
  op: string,
  lowerAt: (sizes: number[]) => Uint8Array,
  symbols: DynamicSymbol[],
  bindings: DynamicBinding[],
  outputAxes: OutputAxisName[],
): Uint8Array {
  const m = symbols.length;
  if (m > 6) throw new ValueError(`${op}: dynamicAxes: at most 6 named sizes (each doubles the lowerings), got ${m}`);
  const names = symbols.map((s) => s.name);
  const bases = symbols.map((s) => s.base);
  const corners = Array.from({ length: 1 << m }, (_, mask) => bases.map((b, k) => b + ((mask >> k) & 1)));
  const check = bases.map((b) => b + 2);
  const points = [...corners, check];
  const models = points.map((sizes) => fromBinary(ModelProtoSchema, lowerAt(sizes)));
  const graphs = models.map((mod) => mod.graph!);
  const base = graphs[0];
  const at = (sizes: number[]) => sizes.map((s, k) => `${names[k]}=${s}`).join(', ');

  // The traced program must be the same at every size: same nodes, same constants by name.
  graphs.forEach((g, i) => {
    const differs = (what: string) =>
      new ValueError(
        `${op}: dynamicAxes: the traced graph changes with the sizes (${what} at ${at(points[i])}); ` +
          `the function's structure depends on ${names.join(', ')}, which ONNX shapes cannot express`,
      );
    if (g.node.length !== base.node.length) throw differs(`${g.node.length} nodes instead of ${base.node.length}`);
    g.node.forEach((n, j) => {
      if (!equals(NodeProtoSchema, n, base.node[j])) throw differs(`node ${base.node[j].name}`);
    });
    if (g.initializer.map((t) => t.name).join() !== base.initializer.map((t) => t.name).join())
      throw differs('its constants');
  });

  const taken = new Set([
    ...base.node.flatMap((n) => [...n.input, ...n.output]),
    ...base.initializer.map((t) => t.name),
  ]);
  let counter = 0;
  const fresh = (prefix: string) => {
    let name: string;
    do name = `${prefix}${counter++}`;
    while (taken.has(name));
    taken.add(name);
    return name;
  };
  const added: NodeProto[] = [];
  const addedInits: TensorProto[] = [];
  const node = (opType: string, input: string[], attribute: NodeProto['attribute'] = []) => {
    const output = fresh('dim_');
    added.push(create(NodeProtoSchema, { opType, input, output: [output], name: `${opType}_${output}`, attribute }));
    return output;
  };
  const ints = (values: number[], dims: number[] = [values.length]) => {
    const name = fresh('dim_const');
    const data = BigInt64Array.from(values, BigInt);
    addedInits.push(
      create(TensorProtoSchema, {
        name,
        dims: dims.map(BigInt),
        dataType: OnnxType.INT64,
        rawData: new Uint8Array(data.buffer),
      }),
    );
    return name;
  };

  // One [1]-shaped int64 value per symbol (read from an input's shape), and their products.
  const sizeOf = new Map<number, string>();
  const product = (mask: number): string => {
    let name = sizeOf.get(mask);
    if (name !== undefined) return name;
    const ks = bits(mask, m);
    if (ks.length === 1) {
      const b = bindings.find((x) => x.symbol === ks[0])!;
      name = node('Shape', [b.input], [intAttr('start', b.axis), intAttr('end', b.axis + 1)]);
    } else name = node('Mul', [product(1 << ks[0]), product(mask & ~(1 << ks[0]))]);
    sizeOf.set(mask, name);
    return name;
  };
  const scalarOf = (p: Poly): string => {
    const terms = [...p]
      .filter(([mask]) => mask !== 0)
      .map(([mask, a]) => (a === 1 ? product(mask) : node('Mul', [product(mask), ints([a])])));
    const c = p.get(0) ?? 0;
    if (terms.length === 0) return ints([c]);
    const sum = terms.reduce((x, y) => node('Add', [x, y]));
    return c === 0 ? sum : node('Add', [sum, ints([c])]);
  };
  /** A 1-d int64 tensor whose elements are polynomials (constant runs stay one constant). */
  const vectorOf = (polys: Poly[]): string => {
    const pieces: string[] = [];
    let run: number[] = [];
    const flush = () => {
      if (run.length) pieces.push(ints(run));
      run = [];
    };
    for (const p of polys) {
      if (isConstant(p)) run.push(p.get(0) ?? 0);
      else {
        flush();
        pieces.push(scalarOf(p));
      }
    }
    flush();
    return pieces.length === 1 ? pieces[0] : node('Concat', pieces, [intAttr('axis', 0)]);
  };
  const fitAll = (valuesPerPoint: number[][], where: string): Poly[] =>
    valuesPerPoint[0].map((_, e) => {
      const p = fit(
        corners.map((_, c) => valuesPerPoint[c][e]),
        bases,
      );
      if (evaluate(p, check) !== valuesPerPoint[corners.length][e])
        throw new ValueError(
          `${op}: dynamicAxes: ${where} is not a multilinear function of ${names.join(', ')} ` +
            `(checked at ${at(check)}); ONNX shapes cannot express it`,
        );
      return p;
    });

  const unexpressible = (where: string) =>
    new ValueError(`${op}: dynamicAxes: ${where} changes with ${names.join(', ')} in a way ONNX shapes cannot express`);
  const replaced = new Map<string, string>();
  base.initializer.forEach((t, j) => {
    const versions = graphs.map((g) => g.initializer[j]);
    if (versions.every((v) => equals(TensorProtoSchema, v, t))) return;
    const user = base.node.find((n) => n.input.includes(t.name));
    const where = `the constant ${t.name} [${t.dims.join(', ')}]${user ? ` of node ${user.name}` : ''}`;
    const sameDims = versions.every((v) => v.dims.join() === t.dims.join());
    const numbers = sameDims ? versions.map(numericValues) : [];
    if (numbers.length && numbers.every((v) => v !== undefined)) {
      // Sizes (shapes, counts) or their reciprocals (a mean's 1/n), as the constant's own type.
      const asSizes = numbers.every((v) => v!.every(Number.isInteger));
      const reciprocals = numbers.map((v) => v!.map((x) => Math.round(1 / x)));
      if (!asSizes && !reciprocals.every((v, i) => v.every((r, e) => Math.abs(1 / r - numbers[i]![e]) <= 1e-6 / r)))
        throw unexpressible(where);
      let value = vectorOf(fitAll(asSizes ? (numbers as number[][]) : reciprocals, where));
      if (t.dataType !== OnnxType.INT64) value = node('Cast', [value], [intAttr('to', t.dataType)]);
      if (!asSizes) value = node('Reciprocal', [value]);
      replaced.set(t.name, t.dims.length === 1 ? value : node('Reshape', [value, ints(t.dims.map(Number))]));
      return;
    }
    const fill = versions.map(fillValue);
    if (!sameDims && fill.every((f) => f !== undefined && equalBytes(f, fill[0]!))) {
      const dims = fitAll(
        versions.map((v) => v.dims.map(Number)),
        `the shape of ${where}`,
      );
      const scalar = fresh('dim_fill');
      addedInits.push(create(TensorProtoSchema, { name: scalar, dims: [], dataType: t.dataType, rawData: fill[0]! }));
      replaced.set(t.name, node('Expand', [scalar, vectorOf(dims)]));
      return;
    }
    throw unexpressible(where);
  });
  for (const [from, to] of replaced) {
    for (const n of base.node) n.input = n.input.map((x) => (x === from ? to : x));
    base.initializer = base.initializer.filter((t) => t.name !== from);
  }
  base.node = [...added, ...base.node];
  base.initializer = [...base.initializer, ...addedInits];
  nameDims(op, base, graphs, bindings, names, outputAxes, fitAll);
  return toBinary(ModelProtoSchema, models[0] as ModelProto);
}

/** The one value every element of a tensor holds (as bytes), if it is a fill. */
function fillValue(t: TensorProto): Uint8Array | undefined {
  const count = t.dims.reduce((a, d) => a * Number(d), 1);
  if (count === 0) return undefined;
  const size = t.rawData.byteLength / count;
  const first = t.rawData.subarray(0, size);
  for (let i = size; i < t.rawData.byteLength; i += size)
    if (!equalBytes(t.rawData.subarray(i, i + size), first)) return undefined;
  return first.slice();
}

const intAttr = (name: string, i: number) => create(AttributeProtoSchema, { name, type: AttrType.INT, i: BigInt(i) });

const equalBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Marks the inputs' dynamic dimensions and names every output dimension that follows the sizes. */
function nameDims(
  op: string,
  base: GraphProto,
  graphs: GraphProto[],
  bindings: DynamicBinding[],
  names: string[],
  outputAxes: OutputAxisName[],
  fitAll: (values: number[][], where: string) => Poly[],
) {
  for (const o of outputAxes)
    if (!base.output.some((out) => out.name === o.output))
      throw new ValueError(
        `${op}: dynamicAxes: '${o.output}' is neither an input (${base.input.map((x) => x.name).join(', ')}) nor an output (${base.output.map((x) => x.name).join(', ')})`,
      );
  const dimsOf = (v: ValueInfoProto) =>
    v.type?.value.case === 'tensorType' ? (v.type.value.value.shape?.dim ?? []) : [];
  for (const b of bindings) {
    const dim = dimsOf(base.input.find((i) => i.name === b.input)!)[b.axis];
    dim.value = { case: 'dimParam', value: names[b.symbol] };
  }
  base.output.forEach((out, i) => {
    const dims = dimsOf(out);
    for (const o of outputAxes)
      if (o.output === out.name && !(o.axis >= 0 && o.axis < dims.length))
        throw new ValueError(
          `${op}: dynamicAxes: output '${out.name}' ${fmtShape(dims.map((d) => Number(d.value.value)))} has no axis ${o.axis}`,
        );
    const polys = fitAll(
      graphs.map((g) => dimsOf(g.output[i]).map((d) => Number(d.value.value))),
      `the shape of output ${out.name}`,
    );
    polys.forEach((p, axis) => {
      const wanted = outputAxes.find((o) => o.output === out.name && o.axis === axis);
      if (isConstant(p)) {
        if (wanted)
          throw new ValueError(
            `${op}: dynamicAxes: axis ${axis} of output '${out.name}' does not change with ${names.join(', ')}`,
          );
        return;
      }
      dims[axis].value = { case: 'dimParam', value: wanted?.name ?? format(p, names) };
    });
  });
}
