/**
 * ONNX interchange: `exportModel` turns a Fluxion function into the bytes of an `.onnx` file
 * that ONNX Runtime, PyTorch's importers and other tools read. It is the same lowering the CPU
 * backend runs `jit` graphs with.
 * @module
 */
import { type Array, ConcreteArray } from '../core/array.js';
import { OptionError, TraceError, ValueError } from '../core/errors.js';
import { makeClosedGraph } from '../transforms/jit.js';
import { OPSET, lowerGraph } from './lower.js';

export { OPSET, UnlowerableError, lowerGraph, type LoweredModel, type LowerOptions } from './lower.js';
export { load, OnnxImportError, fluxionDType, type ImportedModel, type OnnxValueInfo } from './import.js';
export type { OnnxValue } from './sequence.js';

/** Options of {@link exportModel}. @category ONNX */
export interface ExportOptions {
  /** The operator set version; Fluxion writes opset 18. */
  opset?: number;
  /** Names of the graph inputs (the array leaves of the example arguments, in order). */
  inputNames?: string[];
  /** Names of the graph outputs (the array leaves of the result, in order). */
  outputNames?: string[];
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
  const known = new Set(['opset', 'inputNames', 'outputNames']);
  for (const k of Object.keys(opts))
    if (!known.has(k)) throw new OptionError(`exportModel: unknown option '${k}' (opset, inputNames, outputNames)`);
  if (opts.opset !== undefined && opts.opset !== OPSET)
    throw new ValueError(`exportModel: opset ${opts.opset} is not supported (Fluxion writes opset ${OPSET})`);
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
  return lowerGraph(graph, { initializers, inputNames, outputNames, name, storedTypes: true }).bytes;
}
