/**
 * Parameter shapes without weights, parameter counts, and torchvision `state_dict`s.
 * @module
 */
import { byteSize } from '../core/dtype.js';
import { ShapeDtype } from '../core/array.js';
import { ValueError } from '../core/errors.js';
import { traceToGraph } from '../core/staging.js';
import type { Layer } from '../nn/index.js';
import { flatten, leafPaths, unflatten } from '../tree.js';
import { restore } from '../io/checkpoint.js';

const inputOf = (model: Layer, fn: string, inShape?: readonly number[]): readonly number[] => {
  const shape = inShape ?? model.inputShape;
  if (!shape) throw new ValueError(`${fn}: ${model.name} has no default input shape; pass one`);
  return shape;
};

/**
 * The shapes and dtypes of a model's params and state, found by tracing `init` on an abstract
 * key: no weight is allocated, so it is cheap for VGG-16's 138M parameters too.
 * @example models.paramShapes(models.resnet18()).params.fc.weight.shape // [1000, 512]
 * @category Models
 */
export function paramShapes(model: Layer, inShape?: readonly number[]): { params: any; state: any } {
  const shape = inputOf(model, 'paramShapes', inShape);
  let def: ReturnType<typeof flatten>[1] | undefined;
  const { graph } = traceToGraph(
    (key) => {
      const r = model.init(key, shape);
      const [leaves, d] = flatten({ params: r.params, state: r.state });
      def = d;
      return leaves;
    },
    [{ shape: [2], dtype: 'uint32' }],
  );
  return unflatten(
    def!,
    graph.outAvals.map((a) => new ShapeDtype(a.shape, a.dtype)),
  );
}

/**
 * The number of parameters (state such as batch-norm statistics excluded), as PyTorch's
 * `sum(p.numel() for p in model.parameters())`; computed from shapes, nothing allocated.
 * @example models.paramCount(models.resnet50()) // 25557032
 * @category Models
 */
export function paramCount(model: Layer, inShape?: readonly number[]): number {
  const [leaves] = flatten<ShapeDtype>(paramShapes(model, inShape).params);
  return leaves.reduce((n, a) => n + a.size, 0);
}

/**
 * The bytes a model's parameters are stored in (each in its own dtype: float16 and bfloat16 take
 * two bytes an element); computed from shapes, nothing allocated.
 * @example models.paramBytes(nn.precision(models.lenet5(), { paramDtype: 'bfloat16' })) // half the float32 bytes
 * @category Models
 */
export function paramBytes(model: Layer, inShape?: readonly number[]): number {
  const [leaves] = flatten<ShapeDtype>(paramShapes(model, inShape).params);
  return leaves.reduce((n, a) => n + a.size * byteSize(a.dtype), 0);
}

/**
 * Splits a PyTorch `state_dict` (as {@link io.loadFile} or {@link io.loadSafetensors} reads it)
 * into the `{ params, state }` that `model.apply` takes: batch-norm running statistics and
 * `num_batches_tracked` go to state. Missing, unexpected or mis-shaped names are one error
 * that lists them; entries of other dtypes (float16, float64, int64) are converted to the model's.
 * @example
 * const { params, state } = models.fromStateDict(models.resnet18({ numClasses: 10 }), (await io.loadFile(f)).params);
 * @category Models
 */
export function fromStateDict(
  model: Layer,
  stateDict: unknown,
  inShape?: readonly number[],
): { params: any; state: any } {
  const shapes = paramShapes(model, inShape);
  const inState = new Set(leafPaths(flatten(shapes.state)[1]).map((p) => p.join('.')));
  const [leaves, def] = flatten(stateDict);
  const tied = model.tiedWeights ?? {};
  const named = Object.fromEntries(
    leafPaths(def).flatMap((p, i) => {
      const name = p.join('.');
      // A tied name is the same tensor as the parameter it names: nothing of its own to load.
      if (name in tied) return [];
      return [[`${inState.has(name) ? 'state' : 'params'}.${name}`, leaves[i]]];
    }),
  );
  return restore(shapes, named, `fromStateDict(${model.name})`);
}
