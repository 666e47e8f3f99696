/**
 * The native CPU path: a jitted graph compiles once into ONNX Runtime sessions (graph
 * optimisations on, one intra-op thread per core) and each call runs them. Equations without an
 * ONNX lowering split the graph: the pieces between them are sessions, the equations themselves
 * run in JavaScript (control flow runs its bodies through the same executor, step by step).
 * `executionPlan` shows what ran where.
 * @module
 */
import { ConcreteArray } from '../core/array.js';
import { type Atom, type Eqn, Graph, Lit, Var, subGraphs } from '../core/ir.js';
import { type LoweredModel, type Pack, computeDType, computeValues, lowerGraph } from '../onnx/lower.js';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataType } from '../onnx/generated/onnx_pb.js';
import { type Executable, type GraphBackend, passedOnce } from './backend.js';
import { type Fetch, type NativeSession, type Runtime, loadCApi } from './ort-capi.js';
import { cacheKey, readEntry, removeEntry, writeEntry } from './cache.js';
import * as t from 'io-ts';
import { sizeOf } from '../core/shape.js';

let runtime: Runtime | null | undefined;
/**
 * Loads ONNX Runtime on first use: its C API through the optional `koffi` (outputs written in
 * place), else onnxruntime-node's binding (or with `FLUXION_ORT_BINDING=1`). Null where
 * onnxruntime-node is absent, fails to load, or `FLUXION_CPU=js` asks for the JavaScript kernels;
 * a missing runtime says so once.
 */
export function loadOnnxRuntime(): Runtime | null {
  if (runtime !== undefined) return runtime;
  runtime = null;
  if (typeof process === 'undefined') return runtime;
  if (process.env?.FLUXION_CPU === 'js') {
    console.warn('fluxion: FLUXION_CPU=js: jit runs on the JavaScript CPU kernels');
    return runtime;
  }
  try {
    // Node built-ins are fetched at run time so that browser bundles of the library never see them.
    const { createRequire } = process.getBuiltinModule('node:module') as typeof import('node:module');
    const fromOrt = createRequire(createRequire(import.meta.url).resolve('onnxruntime-node'));
    const { availableParallelism } = process.getBuiltinModule('node:os') as typeof import('node:os');
    sessionOptions.intraOpNumThreads = Number(process.env.FLUXION_ORT_THREADS) || availableParallelism();
    // FLUXION_ORT_PROFILE=name writes ONNX Runtime's per-node timings when the process exits, under
    // profiles/ (git-ignored) unless the name is a path.
    const profile = process.env.FLUXION_ORT_PROFILE;
    if (profile) {
      const prefix = profile.includes('/') ? profile : `profiles/${profile}`;
      if (!profile.includes('/'))
        (process.getBuiltinModule('node:fs') as typeof import('node:fs')).mkdirSync('profiles', { recursive: true });
      Object.assign(sessionOptions, { enableProfiling: true, profileFilePrefix: prefix });
      process.on('exit', () => profiled.forEach((s) => s.endProfiling()));
    }
    const version: string = fromOrt('../package.json').version;
    runtime = (!process.env.FLUXION_ORT_BINDING && cApi(fromOrt, version)) || binding(fromOrt, version);
  } catch (err) {
    const why = (err as Error).message.split('\n')[0];
    console.warn(`fluxion: ONNX Runtime is not available (${why}); jit runs on the JavaScript CPU kernels`);
  }
  return runtime;
}

/** The C API of the shared library beside onnxruntime-node's binding; null where it cannot be loaded. */
function cApi(fromOrt: NodeJS.Require, version: string): Runtime | null {
  const fs = process.getBuiltinModule('node:fs') as typeof import('node:fs');
  const { dirname, join } = process.getBuiltinModule('node:path') as typeof import('node:path');
  const dir = join(dirname(fromOrt.resolve('../package.json')), 'bin', 'napi-v6', process.platform, process.arch);
  try {
    const file = fs.readdirSync(dir).find((f) => /^(lib)?onnxruntime\b.*\.(so|dylib|dll)\b/.test(f));
    return file ? loadCApi(join(dir, file), version) : null;
  } catch {
    return null;
  }
}

/** onnxruntime-node's binding: the runtime allocates each output and the binding copies it out. */
function binding(fromOrt: NodeJS.Require, version: string): Runtime {
  const { binding, initOrt } = fromOrt('./binding.js');
  const { Tensor } = fromOrt('onnxruntime-common');
  initOrt();
  return {
    version,
    load(bytes, options) {
      const session = new binding.InferenceSession();
      session.loadModel(bytes.buffer, bytes.byteOffset, bytes.byteLength, options);
      return {
        run(inputs, outputs) {
          const feeds = Object.fromEntries(inputs.map((x) => [x.name, new Tensor(x.dtype, x.data, x.dims)]));
          const results = session.run(feeds, Object.fromEntries(outputs.map((o) => [o.name, null])), {});
          return outputs.map((o) => results[o.name].data);
        },
        endProfiling: () => session.endProfiling(),
        dispose: () => session.dispose(),
      };
    },
  };
}

/**
 * Graph rewrites of quantized models (QuantizeLinear/DequantizeLinear pairs, integer matmuls). The
 * lowering never emits those operators, yet each rewrite walks the whole graph on every pass of the
 * optimiser: DenseNet-121's training step (14k nodes) spent 1.1 of its 6.5 s of session creation in them.
 */
const QUANTIZATION_REWRITES = [
  'EnsureUniqueDQForNodeUnit',
  'WhereDummyDq',
  'WeightBiasQuantization',
  'QDQPropagationTransformer',
  'DoubleQDQPairsRemover',
  'QDQSelectorActionTransformer',
  'QDQS8ToU8Transformer',
  'QDQFinalCleanupTransformer',
  'MatMulNBitsFusion',
  'MatMulIntegerToFloatFusion',
  'DynamicQuantizeMatMulFusion',
];

/**
 * One intra-op thread per core (set when ONNX Runtime loads), all graph optimisations but the
 * quantization rewrites, and only errors logged (its warnings about folding constants are noise to
 * a user). No memory pattern: its one block for all of a run's intermediates held more than the
 * arena reusing freed blocks does (peak RSS of a training step: ResNet-50 1,445 → 1,267 MB,
 * DenseNet-121 704 → 612 MB, at the same speed).
 */
const sessionOptions = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
  executionMode: 'sequential',
  logSeverityLevel: 3,
  enableMemPattern: false,
  extra: {
    optimization: { disable_specified_optimizers: QUANTIZATION_REWRITES.join(';') },
    // Each session has its own threads, which spin after a run for the next one. Spinning past a
    // millisecond only takes cores from the next session: a jitted 1024 matmul alternating with
    // an eager one took 26-28 ms each, 14-16 ms with this bound (LSTM steps, whose nodes follow
    // each other within microseconds, unchanged).
    session: { 'intra_op.spin_duration_us': '1000' },
  },
} as Record<string, unknown>;

/** What the executor needs of a lowered model besides its bytes (kept in the compilation cache beside them). */
type ModelInfo = Pick<LoweredModel, 'inputs' | 'outputs' | 'outputShapes' | 'packedOutputs' | 'overwritable'>;
const numbers = t.array(t.number);
/** ModelInfo as JSON writes it (an unknown output shape is null). */
const ModelInfoJson = t.type({
  inputs: t.array(t.string),
  outputs: t.array(t.string),
  outputShapes: t.array(t.union([numbers, t.null])),
  packedOutputs: t.array(
    t.type({ name: t.string, members: t.array(t.type({ index: t.number, offset: t.number })), size: t.number }),
  ),
  overwritable: t.array(numbers),
});

type Loaded = { session: NativeSession; info: ModelInfo; cached: boolean };
/**
 * A session from the compilation cache for a graph of `inputs` fed values and `outputs` results,
 * or null (no entry, or one that does not fit or fails to load: it is removed).
 */
function loadCached(
  rt: Runtime,
  key: string,
  options: Record<string, unknown>,
  inputs: number,
  outputs: number,
): Loaded | null {
  const entry = readEntry(key, ModelInfoJson);
  if (!entry) return null;
  const { info: json, model, optimised } = entry;
  const info = { ...json, outputShapes: json.outputShapes.map((s) => s ?? undefined) };
  const members = info.packedOutputs.flatMap((p) => p.members.map((m) => m.index));
  const within = (n: number) => (i: number) => Number.isInteger(i) && i >= 0 && i < n;
  const fits =
    info.inputs.length === inputs &&
    info.outputs.length + members.length === outputs &&
    members.every(within(outputs)) &&
    info.overwritable.length === info.outputs.length &&
    info.overwritable.every((ins) => ins.every(within(inputs)));
  try {
    if (!fits) throw new Error('an entry of another graph');
    // An optimised model loads as it is: ONNX Runtime optimised it when it was saved.
    const given = optimised ? { ...options, graphOptimizationLevel: 'disabled' } : options;
    return { session: rt.load(model, given), info, cached: true };
  } catch {
    removeEntry(key); // corrupt, or from another runtime: compiled again
    return null;
  }
}

/**
 * A session for the lowered model with the given options; with a cache key, the model is saved in
 * the compilation cache as it loads (ONNX Runtime's optimised form where it optimises, else the
 * lowered bytes), beside what the executor knows of it (`info`).
 */
function loadSession(
  rt: Runtime,
  bytes: Uint8Array,
  options: Record<string, unknown>,
  key: string | null,
  info: unknown,
): NativeSession {
  if (!key) return rt.load(bytes, options);
  const optimised = options.graphOptimizationLevel !== 'disabled';
  return writeEntry(key, optimised, info, (file) => {
    if (!file) return rt.load(bytes, options);
    if (!optimised) {
      const session = rt.load(bytes, options);
      try {
        (process.getBuiltinModule('node:fs') as typeof import('node:fs')).writeFileSync(file, bytes);
      } catch {
        // Not saved (a full disk, say): the session stands, and writeEntry finds no file to keep.
      }
      return session;
    }
    const saving = {
      ...(options.extra as object),
      session: { ...(options.extra as { session: object }).session, save_model_format: 'ORT' },
    };
    try {
      return rt.load(bytes, { ...options, optimizedModelFilePath: file, extra: saving });
    } catch {
      return rt.load(bytes, options); // a model ONNX Runtime cannot save (or refuses: then this throws too)
    }
  });
}

let probedBlock: number | null | undefined;
/**
 * ONNX Runtime's NCHWc block size on this CPU (8 with AVX2, 16 with AVX-512; null where it has no
 * blocked kernels), read from how its optimiser rewrites a one-channel convolution with a constant
 * filter: the filter it stores is padded to one block of output channels. The lowering's own
 * blocked convolutions must use exactly this layout.
 */
function nchwcBlock(rt: Runtime): number | undefined {
  if (probedBlock === undefined) {
    probedBlock = null;
    const fs = process.getBuiltinModule('node:fs') as typeof import('node:fs');
    const { tmpdir } = process.getBuiltinModule('node:os') as typeof import('node:os');
    const { join } = process.getBuiltinModule('node:path') as typeof import('node:path');
    const dir = fs.mkdtempSync(join(tmpdir(), 'fluxion-nchwc-'));
    try {
      const bytes = oneChannelConv();
      const file = join(dir, 'probe.onnx');
      rt.load(bytes, { ...sessionOptions, graphOptimizationLevel: 'all', optimizedModelFilePath: file }).dispose();
      const saved = fromBinary(ModelProtoSchema, fs.readFileSync(file));
      const blocked = saved.graph?.initializer.find((t) => t.dims.length === 4 && t.dims[0] > 1n);
      if (blocked && saved.graph?.node.some((n) => n.domain === 'com.microsoft.nchwc'))
        probedBlock = Number(blocked.dims[0]);
    } catch {
      // No blocked kernels, or the probe failed: plain convolutions.
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  return probedBlock ?? undefined;
}

/** A model computing `Conv(x[1, 1, 4, 4], w[1, 1, 1, 1] = 1)`, the weight a constant. */
function oneChannelConv(): Uint8Array {
  const tensor = (name: string) => ({
    name,
    type: {
      value: {
        case: 'tensorType' as const,
        value: {
          elemType: TensorProto_DataType.FLOAT,
          shape: { dim: [1, 1, 4, 4].map((d) => ({ value: { case: 'dimValue' as const, value: BigInt(d) } })) },
        },
      },
    },
  });
  return toBinary(
    ModelProtoSchema,
    create(ModelProtoSchema, {
      irVersion: 8n,
      opsetImport: [{ domain: '', version: 18n }],
      graph: {
        name: 'probe',
        node: [{ opType: 'Conv', input: ['x', 'w'], output: ['y'] }],
        initializer: [{ name: 'w', dims: [1n, 1n, 1n, 1n], dataType: TensorProto_DataType.FLOAT, floatData: [1] }],
        input: [tensor('x')],
        output: [tensor('y')],
      },
    }),
  );
}

/** Can this equation, and every graph nested in it, be lowered? */
const lowerable = (e: Eqn): boolean =>
  e.prim.onnx !== undefined && subGraphs(e.params).every((g) => g.eqns.every(lowerable));

type Step =
  | {
      kind: 'onnx';
      session: NativeSession;
      inputs: Var[];
      inNames: string[];
      outs: Var[];
      /** Small outputs that come back packed, end to end in one flat tensor each (see packBelow). */
      packedOuts: Packed[];
      /** The session's outputs: one for each of `outs`, then one for each of `packedOuts`. */
      fetches: Fetch[];
      size: number;
      /** Loaded from the persistent compilation cache (neither lowered nor optimised again). */
      cached: boolean;
      /** For each of `outs`, the positions in `inputs` whose memory it may be written into. */
      overwritable: number[][];
    }
  | { kind: 'js'; eqn: Eqn; why: string };

/** Splits a graph into maximal runs of lowerable equations (each one session) and the equations between them. */
function compileSteps(g: Graph, rt: Runtime, known: Known): Step[] {
  const lastUse = new Map<number, number>(); // var id -> index of its last use (eqns.length for outputs)
  g.eqns.forEach((e, i) => e.inputs.forEach((a) => a instanceof Var && lastUse.set(a.id, i)));
  g.outs.forEach((a) => a instanceof Var && lastUse.set(a.id, g.eqns.length));
  return split(
    g.eqns.map((eqn, index) => ({ eqn, index })),
    lastUse,
    rt,
    known,
    (e) => (lowerable(e) ? null : `${e.prim.name} has no ONNX lowering`),
  );
}

type Indexed = { eqn: Eqn; index: number };
/**
 * Outputs under 4,096 elements (16 KiB of float32) come back packed: onnxruntime-node's allocation
 * and copy for each output then outweighs concatenating them first.
 */
const PACK_BELOW = 4096;
/** Constants of at least this many elements are weights, which ONNX Runtime's optimiser lays out and folds into. */
const WEIGHTS_FROM = 1024;
/** A session output carrying several values, each at an offset. */
type Packed = { name: string; members: { v: Var; offset: number }[] };
/** Equations ONNX Runtime treats alike: the same primitive on the same dtypes. */
const signature = (e: Eqn) => `${e.prim.name}(${e.inputs.map((a) => a.aval.dtype)})`;

/** Graph inputs whose values are known when the graph compiles (by variable id): sessions get them as initializers. */
type Known = ReadonlyMap<number, ConcreteArray>;

function split(
  eqns: Indexed[],
  lastUse: Map<number, number>,
  rt: Runtime,
  known: Known,
  refuse: (e: Eqn) => string | null,
): Step[] {
  const steps: Step[] = [];
  let run: Indexed[] = [];
  const flush = () => {
    if (run.length) steps.push(...segment(run, lastUse, rt, known));
    run = [];
  };
  for (const x of eqns) {
    const why = refuse(x.eqn);
    if (why === null) run.push(x);
    else {
      flush();
      steps.push({ kind: 'js', eqn: x.eqn, why });
    }
  }
  flush();
  return steps;
}

/**
 * One session for a run of equations. If lowering or ONNX Runtime refuses it (a loop too long to
 * unroll, a dtype it lacks), control flow in it runs host-driven and the rest is tried again;
 * failing that, the run stays in JavaScript.
 */
function segment(run: Indexed[], lastUse: Map<number, number>, rt: Runtime, known: Known): Step[] {
  const eqns = run.map((x) => x.eqn);
  const end = run[run.length - 1].index + 1;
  const defined = new Set(eqns.flatMap((e) => e.outs.map((v) => v.id)));
  const inputs = new Map<number, Var>();
  for (const e of eqns) for (const a of e.inputs) if (a instanceof Var && !defined.has(a.id)) inputs.set(a.id, a);
  const outs = eqns.flatMap((e) => e.outs).filter((v) => (lastUse.get(v.id) ?? -1) >= end);
  let model: LoweredModel | undefined;
  try {
    const ins = [...inputs.values()];
    const initializers = new Map(
      ins.flatMap((v, i) => {
        const value = known.get(v.id);
        return value ? [[i, { data: computeValues(value), aval: value.aval }] as const] : [];
      }),
    );
    // ONNX Runtime's optimiser pays where weights are constants (it folds batch norm into them and
    // lays them out for its blocked kernels). Where they are inputs (a training step), what else it
    // does (merging repeats, cancelling transposes) the lowering has done, and its passes over a
    // large graph take seconds: DenseNet-121's step 6.5 s to create, 1.5 s without, same speed.
    // Small constants (a normalisation's mean and scale) are not weights: LeNet-5's step with its
    // inputs normalised inside ran 5.65-5.72 ms optimised, 5.43-5.49 without, first call 17 ms less.
    const optimise = [...initializers.values()].some((c) => sizeOf(c.aval.shape) >= WEIGHTS_FROM);
    const lowering = { looseOutputShapes: true, shapedInputsFrom: optimise ? 0 : 65536, packBelow: PACK_BELOW };
    const options = optimise ? sessionOptions : { ...sessionOptions, graphOptimizationLevel: 'disabled' };
    const graph = new Graph(ins, eqns, outs);
    const key = cacheKey(graph, initializers, [rt.version, options, lowering]);
    const fed = ins.length - initializers.size;
    let loaded: Loaded | null = key ? loadCached(rt, key, options, fed, outs.length) : null;
    if (!loaded) {
      model = lowerGraph(graph, { ...lowering, nchwcBlock: () => nchwcBlock(rt), initializers });
      const { inputs, outputs, outputShapes, packedOutputs, overwritable } = model;
      const info: ModelInfo = { inputs, outputs, outputShapes, packedOutputs, overwritable };
      loaded = { session: loadSession(rt, model.bytes, options, key, info), info, cached: false };
    }
    const { session, info, cached } = loaded;
    if (sessionOptions.enableProfiling) profiled.add(session);
    const packed = (p: Pack, vars: Var[]): Packed => ({
      name: p.name,
      members: p.members.map((m) => ({ v: vars[m.index], offset: m.offset })),
    });
    const packedOut = new Set(info.packedOutputs.flatMap((p) => p.members.map((m) => m.index)));
    const single = outs.filter((_, i) => !packedOut.has(i));
    const packedOuts = info.packedOutputs.map((p) => packed(p, outs));
    const { outputs, outputShapes } = info;
    return [
      {
        kind: 'onnx',
        session,
        inputs: ins.filter((v) => !known.has(v.id)),
        inNames: info.inputs,
        outs: single,
        packedOuts,
        fetches: [
          ...single.map((v, i) => ({
            name: outputs[i],
            dtype: computeDType(v.aval.dtype),
            size: sizeOf(v.aval.shape),
            dims: outputShapes[i],
          })),
          ...packedOuts.map((p) => {
            const size = p.members.reduce((n, m) => n + sizeOf(m.v.aval.shape), 0);
            return { name: p.name, dtype: computeDType(p.members[0].v.aval.dtype), size, dims: [size] };
          }),
        ],
        size: eqns.length,
        cached,
        overwritable: info.overwritable,
      },
    ];
  } catch (err) {
    const message = (err as Error).message;
    // ONNX Runtime lacks a kernel for one node (float64 Conv, say): that equation, and every
    // equation like it, runs in JavaScript and the rest is tried again.
    const refused = model && /implementation for (\w+).*node with name '([^']+)'/.exec(message);
    const owner = refused ? model!.owners.get(refused[2]) : undefined;
    if (owner) {
      const why = `ONNX Runtime has no ${refused![1]} kernel for ${owner.inputs.map((a) => a.aval.dtype).join(', ')}`;
      return split(run, lastUse, rt, known, (e) => (signature(e) === signature(owner) ? why : null));
    }
    const why = `ONNX lowering refused: ${message.split('\n')[0].slice(0, 160)}`;
    if (eqns.some((e) => e.prim.props?.control) && eqns.length > 1)
      return split(run, lastUse, rt, known, (e) => (e.prim.props?.control ? why : null));
    return eqns.map((eqn) => ({ kind: 'js' as const, eqn, why }));
  }
}

/**
 * ONNX Runtime sessions hold native memory the garbage collector cannot see: an executable's
 * sessions are disposed when the executable is collected (a jit made per call would otherwise
 * leak one session each).
 */
const sessionsOf = new FinalizationRegistry<NativeSession[]>((sessions) => {
  for (const s of sessions) {
    if (profiled.delete(s)) s.endProfiling();
    s.dispose();
  }
});
/** Sessions that write ONNX Runtime's profile (FLUXION_ORT_PROFILE) at exit, or when disposed before. */
const profiled = new Set<NativeSession>();

class OnnxExecutable implements Executable {
  /** For each step, the variables that later steps or the graph's outputs still read. */
  private readonly readLater: Set<number>[];
  constructor(
    private readonly graph: Graph,
    private readonly steps: Step[],
  ) {
    sessionsOf.register(
      this,
      steps.flatMap((s) => (s.kind === 'onnx' ? [s.session] : [])),
    );
    const later = new Set(graph.outs.flatMap((a) => (a instanceof Var ? [a.id] : [])));
    this.readLater = [...steps]
      .reverse()
      .map((s) => {
        const now = new Set(later);
        const ins = s.kind === 'js' ? s.eqn.inputs : s.inputs;
        for (const a of ins) if (a instanceof Var) later.add(a.id);
        return now;
      })
      .reverse();
  }

  run(args: ConcreteArray[], donated: readonly number[] = []): ConcreteArray[] {
    const env = new Map<number, ConcreteArray>();
    const read = (a: Atom): ConcreteArray =>
      a instanceof Lit ? ConcreteArray.scalar(a.value, a.aval.dtype) : env.get(a.id)!;
    this.graph.inVars.forEach((v, i) => env.set(v.id, args[i]));
    // Donated arguments whose memory an output may take: held by them alone, passed once.
    const once = passedOnce(args);
    const givenUp = new Set(
      donated.flatMap((i) => (args[i].ownsBuffer && once.has(args[i]) ? [this.graph.inVars[i].id] : [])),
    );
    this.steps.forEach((s, k) => {
      if (s.kind === 'js') {
        const outs = s.eqn.prim.impl(s.eqn.inputs.map(read), s.eqn.params);
        s.eqn.outs.forEach((v, i) => env.set(v.id, outs[i]));
        return;
      }
      const feeds = s.inputs.map((v, i) => {
        const x = env.get(v.id)!;
        return { name: s.inNames[i], dtype: computeDType(x.dtype), data: computeValues(x), dims: x.shape };
      });
      // An output goes into a given-up input's memory where the session has read it by then.
      const taken = new Map<number, number>(); // output -> input
      const free = (i: number) =>
        givenUp.has(s.inputs[i].id) &&
        !this.readLater[k].has(s.inputs[i].id) &&
        feeds[i].data === env.get(s.inputs[i].id)!.storage;
      const fetches = s.fetches.map((f, j) => {
        const i = s.overwritable[j]?.find(free);
        if (i === undefined) return f;
        taken.set(j, i);
        givenUp.delete(s.inputs[i].id);
        return { ...f, into: feeds[i].data };
      });
      const results = s.session.run(feeds, fetches);
      // The inputs whose memory now holds outputs are disposed before the outputs own it.
      for (const [j, i] of taken) if (results[j] === fetches[j].into) env.get(s.inputs[i].id)!.donate();
      s.outs.forEach((v, i) => env.set(v.id, new ConcreteArray(results[i], v.aval.shape, v.aval.dtype).ownBuffer()));
      for (const [j, p] of s.packedOuts.entries()) {
        const data = results[s.outs.length + j];
        for (const { v, offset } of p.members)
          env.set(
            v.id,
            new ConcreteArray(data.subarray(offset, offset + sizeOf(v.aval.shape)), v.aval.shape, v.aval.dtype),
          );
      }
    });
    return this.graph.outs.map(read);
  }

  get plan(): string {
    return this.steps
      .map((s, i) =>
        s.kind === 'onnx'
          ? `step ${i}: onnx session of ${s.size} equations (${s.inputs.length} inputs, ${s.outs.length} outputs` +
            `${s.cached ? ', from the compilation cache' : ''})`
          : `step ${i}: js ${s.eqn.prim.name} (${s.why})`,
      )
      .join('\n');
  }
}

/** The ONNX Runtime CPU backend (null when ONNX Runtime cannot be loaded). */
export function onnxBackend(): GraphBackend | null {
  const rt = loadOnnxRuntime();
  if (!rt) return null;
  return {
    name: 'onnx',
    compile: (g, constants = new Map()) => {
      const known = new Map([...constants].map(([i, value]) => [g.inVars[i].id, value]));
      return new OnnxExecutable(g, compileSteps(g, rt, known));
    },
  };
}
