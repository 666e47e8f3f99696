/**
 * ONNX interchange: `exportModel` turns a Fluxion function into the bytes of an `.onnx` file
 * that ONNX Runtime, PyTorch's importers and other tools read. It is the same lowering the CPU
 * backend runs `jit` graphs with.
 * @module
 */
import { Array, ConcreteArray } from '../core/array.js';
import { OptionError, TraceError, ValueError, fmtShape } from '../core/errors.js';
import * as np from '../np/index.js';
import { flatten, unflatten } from '../tree.js';
import { makeClosedGraph } from '../transforms/jit.js';
import { type DynamicBinding, type DynamicSymbol, type OutputAxisName, withDynamicAxes } from './dynamic.js';
import { OPSET, lowerGraph } from './lower.js';

export { OPSET, UnlowerableError, lowerGraph, type LoweredModel, type LowerOptions, type Pack } from './lower.js';
export {
  load,
  OnnxImportError,
  fluxionDType,
  type ImportedModel,
  type OnnxRunOptions,
  type OnnxValueInfo,
} from './import.js';
export type { OnnxValue } from './sequence.js';

/** Options of {@link exportModel}. @category ONNX */
export interface ExportOptions {
  /** The operator set version; Fluxion writes opset 18. */
  opset?: number;
  /** Names of the graph inputs (the array leaves of the example arguments, in order). */
  inputNames?: string[];
  /** Names of the graph outputs (the array leaves of the result, in order). */
  outputNames?: string[];
  /**
   * Symbolic dimensions, as `torch.onnx.export`'s `dynamic_axes`: by input (or output) name, the
   * axes to leave open, as `{ 0: 'batch' }` or `[0]` (named `<input>_<axis>`). Axes with the same
   * name share one size. Shapes computed from them (`batch*seq` in a reshape) follow at run time.
   */
  dynamicAxes?: Record<string, Record<number, string> | number[]>;
}

/**
 * Exports an inference function as ONNX model bytes. Its array arguments become the graph's
 * inputs; arrays it closes over (the trained parameters) become initializers. Control flow
 * unrolls (`scan`); `whileLoop` and `cond` with traced predicates cannot be exported.
 * @example
 * const predict = (x: Array) => model.apply(params, state, x).y;
 * const bytes = onnx.exportModel(predict, [np.zeros([1, 1, 28, 28])], { inputNames: ['image'] });
 * await fs.writeFile('lenet.onnx', bytes);
 * @category ONNX
 */
export function exportModel(
  f: (...args: any[]) => unknown,
  exampleArgs: unknown[],
  opts: ExportOptions = {},
): Uint8Array {
  const known = ['opset', 'inputNames', 'outputNames', 'dynamicAxes'];
  for (const k of Object.keys(opts))
    if (!known.includes(k)) throw new OptionError(`exportModel: unknown option '${k}' (${known.join(', ')})`);
  if (opts.opset !== undefined && opts.opset !== OPSET)
    throw new ValueError(`exportModel: opset ${opts.opset} is not supported (Fluxion writes opset ${OPSET})`);
  if (!opts.dynamicAxes) return lowerExport(f, exampleArgs, opts, false);
  const [leaves, def] = flatten<unknown>(exampleArgs);
  const arrays = leaves.flatMap((l, i) => (l instanceof Array ? [i] : []));
  const inputNames = opts.inputNames ?? arrays.map((_, k) => `input${k}`);
  const symbols: DynamicSymbol[] = [];
  const bindings: DynamicBinding[] = [];
  const outputAxes: OutputAxisName[] = [];
  for (const [name, spec] of Object.entries(opts.dynamicAxes)) {
    if (typeof spec !== 'object' || spec === null)
      throw new OptionError(
        `exportModel: dynamicAxes.${name} must be a list of axes or { axis: name }, got ${typeof spec}`,
      );
    const k = inputNames.indexOf(name);
    const axes: [number, string][] = globalThis.Array.isArray(spec)
      ? spec.map((a) => [a, `${name}_${a}`])
      : Object.entries(spec).map(([a, s]) => [Number(a), s]);
    for (const [axis, symbol] of axes) {
      if (k < 0) {
        outputAxes.push({ output: name, axis, name: symbol });
        continue;
      }
      const shape = (leaves[arrays[k]] as Array).shape;
      if (!Number.isInteger(axis) || axis < 0 || axis >= shape.length)
        throw new ValueError(`exportModel: dynamicAxes: input '${name}' ${fmtShape(shape)} has no axis ${axis}`);
      let s = symbols.findIndex((x) => x.name === symbol);
      if (s < 0) s = symbols.push({ name: symbol, base: Math.max(shape[axis], 2) }) - 1;
      else if (Math.max(shape[axis], 2) !== symbols[s].base)
        throw new ValueError(`exportModel: dynamicAxes: '${symbol}' has different sizes in the example inputs`);
      bindings.push({ input: name, axis, symbol: s });
    }
  }
  const argsAt = (sizes: number[]) => {
    const resized = leaves.map((l, i) => {
      const k = arrays.indexOf(i);
      const mine = bindings.filter((b) => b.input === inputNames[k]);
      if (!mine.length) return l;
      const shape = [...(l as Array).shape];
      for (const b of mine) shape[b.axis] = sizes[b.symbol];
      return np.zeros(shape, { dtype: (l as Array).dtype });
    });
    return unflatten(def, resized) as unknown[];
  };
  return withDynamicAxes(
    'exportModel',
    (sizes) => lowerExport(f, argsAt(sizes), opts, true),
    symbols,
    bindings,
    outputAxes,
  );
}

function lowerExport(
  f: (...args: any[]) => unknown,
  exampleArgs: unknown[],
  opts: ExportOptions,
  distinctConstants: boolean,
): Uint8Array {
  const { graph, consts } = makeClosedGraph(f)(...exampleArgs);
  const nIn = graph.inVars.length - consts.length;
  if (opts.inputNames && opts.inputNames.length !== nIn)
    throw new ValueError(`exportModel: ${opts.inputNames.length} input names for ${nIn} array inputs`);
  if (opts.outputNames && opts.outputNames.length !== graph.outs.length)
    throw new ValueError(`exportModel: ${opts.outputNames.length} output names for ${graph.outs.length} outputs`);
  const initializers = new Map(
    consts.map((c: Array, i) => {
      const v = c.toConcrete();
      if (!(v instanceof ConcreteArray))
        throw new TraceError('exportModel: the function closed over a traced value; export outside of transforms');
      return [i, { data: v.storage, aval: v.aval }] as const;
    }),
  );
  const inputNames = [
    ...consts.map((_, i) => `param${i}`),
    ...(opts.inputNames ?? globalThis.Array.from({ length: nIn }, (_, i) => `input${i}`)),
  ];
  const outputNames = opts.outputNames ?? graph.outs.map((_, i) => `output${i}`);
  const name = f.name || 'fluxion';
  return lowerGraph(graph, {
    initializers,
    inputNames,
    outputNames,
    name,
    storedTypes: true,
    distinctConstants,
    portable: true,
  }).bytes;
}
