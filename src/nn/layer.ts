/**
 * The layer protocol and its combinators. A layer is a pair of pure functions:
 * `init(key, inShape) -> {params, state, outShape}` and
 * `apply(params, state, x, {key, training}) -> {y, state}`. Shapes include the batch axis.
 * Combinators build ResNet, DenseNet and U-Net blocks from these with no special cases.
 * @module
 */
import { Array, ShapeDtype, type ShapedArray } from '../core/array.js';
import { type DType, isFloat } from '../core/dtype.js';
import { DTypeError, ShapeError, fmtShape } from '../core/errors.js';
import { checkOptions, codecs } from '../core/options.js';
import * as tree from '../tree.js';
import { standIn, traceShapes } from '../core/staging.js';
import { stagedWith } from '../core/trace.js';
import { knownOutput, withOutput } from './outputs.js';
import { type Key, split } from '../random.js';
import * as np from '../np/index.js';

/** Example inputs for a {@link module}'s `init`: arrays or `ShapeDtype` leaves in any tree. @category Layers */
export type InitExample = ShapedArray | readonly InitExample[] | { readonly [k: string]: InitExample };
/** A {@link module}: a layer whose `init` also takes example inputs of any dtype and structure. @category Layers */
export type Module<Y = any> = Layer<any, any, Y> & {
  init(key: Key, input: readonly number[] | InitExample): { params: any; state: any; outShape: number[] };
};

/** Options of a layer application. @category Layers */
export interface ApplyOptions {
  /** Randomness for stochastic layers (dropout); required when training them. */
  key?: Key;
  /** Training mode: dropout active, batch norm uses batch statistics. Default false. */
  training?: boolean;
}

/** Receptive-field data of a layer that slides a window (see {@link receptiveField}). */
export interface WindowInfo {
  kernel: number;
  stride: number;
  padding: number;
  dilation: number;
}

/**
 * A layer: `init` creates params and state, `apply` computes. `Y` is what `apply` gives as `y`
 * (an `Array` for the layers of `nn`, the forward's result for a {@link module}).
 * @category Layers
 */
export interface Layer<P = any, S = any, Y = any> {
  readonly name: string;
  init(key: Key, inShape: readonly number[]): { params: P; state: S; outShape: number[] };
  apply(params: P, state: S, x: any, opts?: ApplyOptions): { y: Y; state: S };
  /** Sub-layers in order, for stacks (used by receptiveField and printing). */
  readonly layers?: readonly Layer[];
  /** Window geometry along the spatial axes, for receptive-field analysis. */
  readonly window?: WindowInfo;
  /** The input shape a model is designed for (batch 1): the default of `paramCount` and `fromStateDict`. */
  readonly inputShape?: readonly number[];
  /** `state_dict` names that are another parameter under a second name (GPT-2's `lm_head.weight`), and which. */
  readonly tiedWeights?: Readonly<Record<string, string>>;
}

/** The params of each named layer of a record: what {@link serial} and {@link module} build. @category Layers */
export type ParamsOf<R extends Record<string, Layer>> = {
  [K in keyof R]: R[K] extends Layer<infer P, any, any> ? P : never;
};
/** The state of each named layer of a record. @category Layers */
export type StateOf<R extends Record<string, Layer>> = {
  [K in keyof R]: R[K] extends Layer<any, infer S, any> ? S : never;
};
/** What a layer's `apply` gives as `y`. @category Layers */
export type OutputOf<L> = L extends Layer<any, any, infer Y> ? Y : never;
/** Each sub-layer of a {@link module}, bound to its params and state: input to output. @category Layers */
export type BoundLayers<R extends Record<string, Layer>> = { [K in keyof R]: (x: any) => OutputOf<R[K]> };

/** Output of an array function on a float32 input of `inShape` (traced abstractly, nothing computed). */
function outputOf(fn: (x: Array) => Array, inShape: readonly number[]): ShapeDtype {
  const [y] = traceShapes((x) => [fn(x)], [new ShapeDtype(inShape, 'float32')]);
  return new ShapeDtype([...y.shape], y.dtype);
}
/** Output shape of an array function on inputs of `inShape` (traced abstractly, nothing computed). */
export const shapeOf = (fn: (x: Array) => Array, inShape: readonly number[]): number[] => [
  ...outputOf(fn, inShape).shape,
];

/**
 * A parameter-free layer from an array function (activations, reshapes, any composite).
 * @example const square = lambda('square', (x) => x.multiply(x));
 * @category Combinators
 */
export function lambda(
  name: string,
  fn: (x: Array, opts: ApplyOptions) => Array,
  window?: WindowInfo,
): Layer<{}, {}, Array> {
  return {
    name,
    window,
    init: (_, inShape) => {
      const out = outputOf((x) => fn(x, {}), inShape);
      return withOutput({ params: {}, state: {}, outShape: [...out.shape] }, out);
    },
    apply: (_, state, x, opts = {}) => ({ y: fn(x, opts), state }),
  };
}

/** The identity layer. @category Combinators */
export const identity: Layer<{}, {}, Array> = lambda('identity', (x) => x);

/** Names the sub-layers of a combinator: object keys, or indices for a list. */
function entries(layers: readonly Layer[] | Record<string, Layer>): [string, Layer][] {
  return globalThis.Array.isArray(layers) ? layers.map((l, i) => [String(i), l]) : Object.entries(layers);
}

/**
 * Layers in sequence. Pass a list (params keyed `0`, `1`, ...) or an object whose keys name
 * the params (`{conv1: conv2d(...), act: relu}` gives `params.conv1.weight`).
 * @example const mlp = serial(dense(128), relu, dense(10));
 * @category Combinators
 */
export function serial<R extends Record<string, Layer>>(layers: R): Layer<ParamsOf<R>, StateOf<R>>;
export function serial<L extends Layer[]>(
  ...layers: L
): Layer<any, any, L extends [...Layer[], infer Last] ? OutputOf<Last> : any>;
export function serial(...args: Layer[] | [Record<string, Layer>]): Layer {
  const list =
    args.length === 1 && !('init' in args[0]) ? entries(args[0] as Record<string, Layer>) : entries(args as Layer[]);
  return {
    name: 'serial',
    layers: list.map(([, l]) => l),
    init(key, inShape) {
      const keys = split(key, Math.max(1, list.length));
      const params: Record<string, unknown> = {},
        state: Record<string, unknown> = {};
      let shape = [...inShape];
      // Each layer is initialised for a float32 input: the known outputs chain while they are float32 arrays.
      let out: InitExample | undefined = new ShapeDtype(shape, 'float32');
      list.forEach(([k, l], i) => {
        const r = l.init(np.slice(keys, i), shape);
        params[k] = r.params;
        state[k] = r.state;
        shape = r.outShape;
        out = out instanceof ShapeDtype && out.dtype === 'float32' ? knownOutput(r) : undefined;
      });
      return withOutput({ params, state, outShape: shape }, out);
    },
    apply(params, state, x, opts = {}) {
      const keys = opts.key ? split(opts.key, Math.max(1, list.length)) : null;
      const newState: Record<string, unknown> = {};
      let y = x;
      list.forEach(([k, l], i) => {
        const r = l.apply(params[k], state[k], y, { ...opts, key: keys ? np.slice(keys, i) : undefined });
        newState[k] = r.state;
        y = r.y;
      });
      return { y, state: newState };
    },
  };
}

/**
 * A layer from named sub-layers and a forward function that calls them, as a PyTorch `Module`
 * defines `__init__` and `forward`. Params and state are keyed by the sub-layer names
 * (`{conv1: {weight}, bn1: {...}}` flattens to `conv1.weight`, `bn1.running_mean`), so models
 * written this way carry the names of their PyTorch counterparts. `init` traces the forward
 * function once on an abstract input: each sub-layer is initialised on the shape it first sees
 * (and, where its `init` knows its output, as nn's layers and nested modules do, not traced again).
 * `init` takes the input's shape (float32) or example inputs of any dtype and structure (arrays or
 * `ShapeDtype` leaves: token ids, a `{ image, mask }` object); the forward gets a key in `opts.key`
 * there too, and may return any tree of arrays (`outShape` is its first leaf's, keys sorted as trees flatten).
 * @example
 * const block = module('block', { conv1: conv2d(8, 3, { padding: 1 }), bn1: batchNorm() }, (m, x) =>
 *   np.add(x, m.bn1(m.conv1(x))),
 * );
 * @category Combinators
 */
export function module<R extends Record<string, Layer>, Y>(
  name: string,
  layers: R,
  forward: (m: BoundLayers<R>, x: any, opts: ApplyOptions) => Y,
  inputShape?: readonly number[],
): Module<Y> {
  type K = keyof R & string;
  const names = Object.keys(layers) as K[];
  const keysOf = (key: Key) => {
    const ks = split(key, Math.max(1, names.length));
    return (i: number) => np.slice(ks, i);
  };
  return {
    name,
    layers: names.map((k) => layers[k]),
    inputShape,
    init(key: Key, input: readonly number[] | InitExample) {
      const keyAt = keysOf(key);
      const params: Record<string, unknown> = {},
        state: Record<string, unknown> = {};
      const bound = Object.fromEntries(
        names.map((k, i) => [
          k,
          (x: Array) => {
            if (!(k in params)) {
              // Parameters are values of their own, not part of the traced forward pass.
              const r = stagedWith(key, () => layers[k].init(keyAt(i), x.shape));
              params[k] = r.params;
              state[k] = r.state;
              // An output init already knows stands in for tracing the layer again (this trace is for shapes).
              const out = x.dtype === 'float32' ? knownOutput(r) : undefined;
              const known = out === undefined ? null : standIns(x, out);
              if (known) return known;
            }
            return layers[k].apply(params[k], state[k], x).y;
          },
        ]),
      ) as BoundLayers<R>;
      const isShape = globalThis.Array.isArray(input) && input.every((d) => typeof d === 'number');
      const [examples, def] = tree.flatten<ShapedArray>(isShape ? new ShapeDtype(input, 'float32') : input);
      const forwardKey = np.slice(split(key, 2), 1);
      let outDef: tree.TreeDef | undefined;
      const outs = traceShapes(
        (...xs) => {
          const [leaves, d] = tree.flatten<Array>(forward(bound, tree.unflatten(def, xs), { key: forwardKey }));
          outDef = d;
          return leaves;
        },
        examples.map((e) => ({ shape: [...e.shape], dtype: e.dtype })),
      );
      const out = tree.unflatten(
        outDef!,
        outs.map((a) => new ShapeDtype([...a.shape], a.dtype)),
      ) as InitExample;
      return withOutput({ params, state, outShape: [...(outs[0]?.shape ?? [])] }, out);
    },
    apply(params, state, x, opts = {}) {
      const keyAt = opts.key ? keysOf(opts.key) : null;
      const newState: Record<string, unknown> = { ...state };
      const bound = Object.fromEntries(
        names.map((k, i) => [
          k,
          (v: Array) => {
            const r = layers[k].apply(params[k] ?? {}, newState[k] ?? {}, v, {
              ...opts,
              key: keyAt ? keyAt(i) : undefined,
            });
            newState[k] = r.state;
            return r.y;
          },
        ]),
      ) as BoundLayers<R>;
      return { y: forward(bound, x, opts), state: newState };
    },
  };
}

/**
 * Applies layer i to input i of a list (shapes: a list of shapes). Output: the list of outputs.
 * @category Combinators
 */
export function parallel(...layers: Layer[]): Layer {
  return {
    name: 'parallel',
    layers,
    init(key, inShapes) {
      const shapes = inShapes as unknown as number[][];
      if (!globalThis.Array.isArray(shapes[0]) || shapes.length !== layers.length)
        throw new ShapeError(
          `parallel: expects a list of ${layers.length} input shapes, got ${JSON.stringify(inShapes)}`,
        );
      const keys = split(key, layers.length);
      const rs = layers.map((l, i) => l.init(np.slice(keys, i), shapes[i]));
      return {
        params: rs.map((r) => r.params),
        state: rs.map((r) => r.state),
        outShape: rs.map((r) => r.outShape) as unknown as number[],
      };
    },
    apply(params, state, xs, opts = {}) {
      const keys = opts.key ? split(opts.key, layers.length) : null;
      const rs = layers.map((l, i) =>
        l.apply(params[i], state[i], xs[i], { ...opts, key: keys ? np.slice(keys, i) : undefined }),
      );
      return { y: rs.map((r) => r.y), state: rs.map((r) => r.state) };
    },
  };
}

/** Copies the input into a list of `n` (feed it to {@link parallel}). @category Combinators */
export const fanOut = (n: number): Layer<{}, {}> => ({
  name: 'fanOut',
  init: (_, inShape) => ({
    params: {},
    state: {},
    outShape: new globalThis.Array(n).fill([...inShape]) as unknown as number[],
  }),
  apply: (_, state, x) => ({ y: new globalThis.Array(n).fill(x), state }),
});

const listShapes = (name: string, inShape: readonly number[]): number[][] => {
  const shapes = inShape as unknown as number[][];
  if (!globalThis.Array.isArray(shapes[0]))
    throw new ShapeError(`${name}: expects a list of inputs, got one of shape ${fmtShape(inShape)}`);
  return shapes;
};

/** Sums a list of inputs of one shape. @category Combinators */
export const fanInSum: Layer<{}, {}> = {
  name: 'fanInSum',
  init(_, inShape) {
    const shapes = listShapes('fanInSum', inShape);
    shapes.forEach((s) => {
      if (s.join() !== shapes[0].join())
        throw new ShapeError(`fanInSum: shapes differ: ${shapes.map(fmtShape).join(', ')}`);
    });
    return { params: {}, state: {}, outShape: shapes[0] };
  },
  apply: (_, state, xs: Array[]) => ({ y: xs.reduce((a, b) => np.add(a, b)), state }),
};

/** Concatenates a list of inputs along `axis` (default 1, channels). @category Combinators */
export const fanInConcat = (axis = 1): Layer<{}, {}> => ({
  name: 'fanInConcat',
  init(_, inShape) {
    const shapes = listShapes('fanInConcat', inShape);
    return { params: {}, state: {}, outShape: shapeOfMany((...xs) => np.concatenate(xs, { axis }), shapes) };
  },
  apply: (_, state, xs: Array[]) => ({ y: np.concatenate(xs, { axis }), state }),
});
function shapeOfMany(fn: (...xs: Array[]) => Array, shapes: number[][]): number[] {
  return [
    ...traceShapes(
      (...xs) => [fn(...xs)],
      shapes.map((s) => ({ shape: s, dtype: 'float32' as const })),
    )[0].shape,
  ];
}

/** Stand-ins in `x`'s shapes-only trace for each leaf of `out`; null outside such a trace. */
function standIns(x: Array, out: InitExample): unknown {
  const [leaves, def] = tree.flatten<ShapedArray>(out);
  const values = leaves.map((a) => standIn(x, a));
  return values.every((v) => v !== null) ? tree.unflatten(def, values) : null;
}

/**
 * `x + layer(x)` (He et al. 2016); with `shortcut`, `shortcut(x) + layer(x)` (e.g. a 1x1
 * conv when shapes change). Built from fanOut, parallel and fanInSum.
 * @category Combinators
 */
export const residual = (layer: Layer, shortcut: Layer = identity): Layer => ({
  ...serial(fanOut(2), parallel(layer, shortcut), fanInSum),
  name: 'residual',
});

/**
 * `concat([x, layer(x)], axis 1)`: a DenseNet connection (Huang et al. 2017).
 * @category Combinators
 */
export const denseConcat = (layer: Layer): Layer => ({
  ...serial(fanOut(2), parallel(identity, layer), fanInConcat(1)),
  name: 'denseConcat',
});

/**
 * Skip connection across an inner block, U-Net style (Ronneberger et al. 2015):
 * `merge([x, inner(x)])`, merging by channel concatenation by default.
 * @category Combinators
 */
export const skip = (inner: Layer, merge: Layer = fanInConcat(1)): Layer => ({
  ...serial(fanOut(2), parallel(identity, inner), merge),
  name: 'skip',
});

/** Flax's precision options: `paramDtype` stores the parameters, `dtype` computes. @category Layers */
export interface PrecisionOptions {
  /** The dtype the layer computes in: float parameters and inputs are cast to it. */
  dtype?: DType;
  /** The dtype float parameters are created and stored in. */
  paramDtype?: DType;
  /** The dtype float outputs are cast to (a loss is best taken in float32). Default: as computed. */
  outputDtype?: DType;
}

const castFloats = (t: unknown, to: DType | undefined) =>
  to === undefined ? t : tree.map((x: unknown) => (x instanceof Array && isFloat(x.dtype) ? x.astype(to) : x), t);

/**
 * A layer (or a whole model) under a precision policy: parameters created in `paramDtype`, inputs
 * and parameters cast to `dtype` for the computation, outputs cast to `outputDtype`. State (batch
 * norm statistics) stays as the layer keeps it. Integer inputs (token ids) are left alone.
 * @example const model = nn.precision(models.lenet5(), { dtype: 'bfloat16', paramDtype: 'bfloat16', outputDtype: 'float32' });
 * @category Combinators
 */
export function precision<P, S>(layer: Layer<P, S>, opts: PrecisionOptions): Layer<P, S> {
  const o = checkOptions(
    'precision',
    { dtype: codecs.dtype, paramDtype: codecs.dtype, outputDtype: codecs.dtype },
    opts,
  );
  for (const d of [o.dtype, o.paramDtype, o.outputDtype])
    if (d !== undefined && !isFloat(d)) throw new DTypeError(`precision: ${d} is not a float dtype`);
  return {
    ...layer,
    name: layer.name,
    init(key, inShape) {
      const r = layer.init(key, inShape);
      return { ...r, params: castFloats(r.params, o.paramDtype) as P };
    },
    apply(params, state, x, applyOpts) {
      const r = layer.apply(castFloats(params, o.dtype) as P, state, castFloats(x, o.dtype), applyOpts);
      return { y: castFloats(r.y, o.outputDtype), state: r.state };
    },
  };
}

/** Throws unless `x` has `inShape` off the batch axis; for layers that fix their input size. */
export function expectFeatures(name: string, x: Array, expected: readonly number[]): void {
  if (x.shape.slice(1).join() !== expected.join())
    throw new ShapeError(
      `${name}: input ${fmtShape(x.shape)} does not match the initialised features ${fmtShape(expected)}`,
    );
}
