/**
 * `scan`: a loop carrying state and stacking per-step outputs, the basis of recurrent networks.
 * Body graph: `[...consts, ...carry, ...x_t] -> [...carry', ...y_t]`. Differentiable in both
 * modes: reverse mode splits the body into a forward scan that stacks residuals and a linear
 * scan, whose transpose runs backwards in time (backpropagation through time).
 * @module
 */
import { Array, ConcreteArray, avalString } from '../core/array.js';
import { allocate } from '../core/dtype.js';
import { ShapeError, ValueError } from '../core/errors.js';
import { type Eqn, Graph, Var } from '../core/ir.js';
import { type Primitive, UndefinedPrimal, type PartialEvalResult, definePrimitive } from '../core/primitive.js';
import { shapesEqual, sizeOf } from '../core/shape.js';
import { runGraph, traceToGraph } from '../core/staging.js';
import { bind } from '../core/trace.js';
import { add, zerosLike } from '../primitives/index.js';
import { moveBatchAxis } from '../primitives/views.js';
import { unflatten } from '../tree.js';
import { flattenArgs, leafPaths } from '../transforms/flat.js';
import { jvpGraph, stage, vmapGraph } from '../transforms/jit.js';
import { partialEval } from '../transforms/partial.js';
import { backwardPass } from '../transforms/transpose.js';
import { checkSameTypes, reorder } from './util.js';

/** Scans up to this many equations in all (steps times body) unroll into ONNX graphs. */
const MAX_UNROLLED = 20_000;

export type ScanParams = { body: Graph; numConsts: number; numCarry: number; length: number; reverse: boolean };

const range = (a: number, n: number) => globalThis.Array.from({ length: n }, (_, i) => a + i);
const stackedAval = (a: Array['aval'], length: number) => ({ shape: [length, ...a.shape], dtype: a.dtype });

export const scanP: Primitive<ScanParams> = definePrimitive({
  name: 'scan',
  partialEval: partialEvalScan,
  props: { control: true },
  abstractEval(avals, { body, numConsts: nc, numCarry: nk, length }) {
    const want = body.inAvals;
    const got = avals.map((a, i) => (i < nc + nk ? a : { shape: a.shape.slice(1), dtype: a.dtype }));
    avals.slice(nc + nk).forEach((a) => {
      if (a.shape[0] !== length)
        throw new ShapeError(`scan: every xs leaf needs leading axis ${length}, got ${avalString(a)}`);
    });
    if (
      got.length !== want.length ||
      got.some((a, i) => a.dtype !== want[i].dtype || !shapesEqual(a.shape, want[i].shape))
    ) {
      throw new ShapeError(
        `scan: operands ${got.map(avalString)} do not match the body's inputs ${want.map(avalString)}`,
      );
    }
    const outs = body.outAvals;
    return [...outs.slice(0, nk), ...outs.slice(nk).map((a) => stackedAval(a, length))];
  },
  // Unrolled into the enclosing ONNX graph: every step is the body inlined, so ONNX Runtime sees
  // (and fuses across) the whole loop. Very long loops stay host-driven (see MAX_UNROLLED).
  onnx(e, inputs, { body, numConsts: nc, numCarry: nk, length, reverse }) {
    if (length * body.eqns.length > MAX_UNROLLED)
      throw new ValueError(`scan: ${length} steps of ${body.eqns.length} equations is too long to unroll into ONNX`);
    const consts = inputs.slice(0, nc),
      xs = inputs.slice(nc + nk);
    let carry = inputs.slice(nc, nc + nk);
    const ys: string[][] = body.outs.slice(nk).map(() => []);
    for (let k = 0; k < length; k++) {
      const t = reverse ? length - 1 - k : k;
      const xt = xs.map((x) => e.op('Gather', [x, e.constant(t, 'int32')], { axis: 0 }));
      const outs = e.inline(body, [...consts, ...carry, ...xt]);
      carry = outs.slice(0, nk);
      outs.slice(nk).forEach((y, i) => (ys[i][t] = e.op('Unsqueeze', [y, e.ints([0])])));
    }
    const stacked = ys.map((list, i) => {
      const a = body.outAvals[nk + i];
      return length === 0
        ? e.constant(allocate(a.dtype, 0), a.dtype, [0, ...a.shape])
        : e.op('Concat', list, { axis: 0 });
    });
    return [...carry, ...stacked];
  },
  impl(inputs, { body, numConsts: nc, numCarry: nk, length, reverse }) {
    const consts = inputs.slice(0, nc);
    let carry: Array[] = inputs.slice(nc, nc + nk);
    const xs = inputs.slice(nc + nk);
    const yAvals = body.outAvals.slice(nk);
    const ys = yAvals.map((a) => allocate(a.dtype, length * sizeOf(a.shape)));
    for (let k = 0; k < length; k++) {
      const t = reverse ? length - 1 - k : k;
      const xt = xs.map((x) => {
        const n = sizeOf(x.shape.slice(1));
        return new ConcreteArray(x.buffer.slice(t * n, (t + 1) * n), x.shape.slice(1), x.dtype);
      });
      const outs = runGraph(body, [...consts, ...carry, ...xt]) as ConcreteArray[];
      carry = outs.slice(0, nk);
      outs.slice(nk).forEach((y, i) => ys[i].set(y.buffer, t * y.size));
    }
    return [
      ...(carry as ConcreteArray[]),
      ...ys.map((d, i) => new ConcreteArray(d, [length, ...yAvals[i].shape], yAvals[i].dtype)),
    ];
  },
  jvp(primals, tangents, p) {
    const { body, numConsts: nc, numCarry: nk } = p;
    const nx = body.inVars.length - nc - nk,
      ny = body.outs.length - nk;
    const { graph: jg, consts: jc } = jvpGraph(body);
    const m = jc.length,
      N = nc + nk + nx;
    // jvp graph order: [jc, c, k, x, ct, kt, xt] -> [k', y, kt', yt]; scan wants consts, carry, xs.
    const ins = [
      ...range(0, m),
      ...range(m, nc),
      ...range(m + N, nc),
      ...range(m + nc, nk),
      ...range(m + N + nc, nk),
      ...range(m + nc + nk, nx),
      ...range(m + N + nc + nk, nx),
    ];
    const outs = [...range(0, nk), ...range(nk + ny, nk), ...range(nk, ny), ...range(2 * nk + ny, ny)];
    const c = primals.slice(0, nc),
      k = primals.slice(nc, nc + nk),
      x = primals.slice(nc + nk);
    const ct = tangents.slice(0, nc),
      kt = tangents.slice(nc, nc + nk),
      xt = tangents.slice(nc + nk);
    const res = bind(scanP, [...jc, ...c, ...ct, ...k, ...kt, ...x, ...xt], {
      ...p,
      body: reorder(jg, ins, outs),
      numConsts: m + 2 * nc,
      numCarry: 2 * nk,
    });
    return [
      [...res.slice(0, nk), ...res.slice(2 * nk, 2 * nk + ny)],
      [...res.slice(nk, 2 * nk), ...res.slice(2 * nk + ny)],
    ];
  },
  batch(vals, dims, p, size) {
    const { body, numConsts: nc, numCarry: nk } = p;
    // Every carry is batched (simplest fixpoint); xs keep their time axis first.
    const moved = vals.map((v, i) =>
      i < nc
        ? dims[i] === null
          ? v
          : moveBatchAxis(v, dims[i], 0, size)
        : i < nc + nk
          ? moveBatchAxis(v, dims[i], 0, size)
          : dims[i] === null
            ? v
            : moveBatchAxis(v, dims[i], 1, size),
    );
    const bodyDims = dims.map((d, i) => (i < nc ? (d === null ? null : 0) : i < nc + nk ? 0 : d === null ? null : 0));
    const { graph, consts } = vmapGraph(body, bodyDims, size, 0);
    const outs = bind(scanP, [...consts, ...moved], { ...p, body: graph, numConsts: consts.length + nc });
    return [outs, outs.map((_, i) => (i < nk ? 0 : 1))];
  },
  transpose(cts, inputs, p) {
    const { body, numConsts: nc, numCarry: nk, length, reverse } = p;
    // Carries are linear in a linear scan even when their initial value is a known zero.
    const isLin = inputs.map((x, i) => x instanceof UndefinedPrimal || (i >= nc && i < nc + nk));
    const resConsts = inputs.slice(0, nc).filter((x, i) => !isLin[i]) as Array[];
    const linConsts = inputs.slice(0, nc).filter((_, i) => isLin[i]) as UndefinedPrimal[];
    const resXs = inputs.slice(nc + nk).filter((_, i) => !isLin[nc + nk + i]) as Array[];
    const carryAvals = body.inAvals.slice(nc, nc + nk);
    const xAvals = body.inAvals.slice(nc + nk);
    const yAvals = body.outAvals.slice(nk);
    // Transposed body: consts [resConsts], carry [ctCarry, ctLinConstAcc], xs [resXs_t, ctY_t] -> carry', ctLinX_t
    const tBody = stage(
      (...args) => {
        let o = 0;
        const take = (n: number) => args.slice(o, (o += n));
        const rc = take(resConsts.length),
          ctCarry = take(nk),
          acc = take(linConsts.length),
          rx = take(resXs.length),
          ctY = take(yAvals.length);
        let ri = 0,
          li = 0,
          xi = 0;
        const bodyArgs = body.inVars.map((v, i) =>
          i < nc
            ? isLin[i]
              ? new UndefinedPrimal(linConsts[li++].aval)
              : rc[ri++]
            : i < nc + nk
              ? new UndefinedPrimal(v.aval)
              : isLin[i]
                ? new UndefinedPrimal(xAvals[i - nc - nk])
                : rx[xi++],
        );
        const inCts = backwardPass(body, bodyArgs, [...ctCarry, ...ctY]);
        const ctConsts = inCts.slice(0, nc).filter((_, i) => isLin[i]) as Array[];
        return [
          ...(inCts.slice(nc, nc + nk) as Array[]),
          ...acc.map((a, i) => add(a, ctConsts[i])),
          ...(inCts.slice(nc + nk).filter((_, i) => isLin[nc + nk + i]) as Array[]),
        ];
      },
      [
        ...resConsts.map((c) => c.aval),
        ...carryAvals,
        ...linConsts.map((c) => c.aval),
        ...resXs.map((x) => ({ shape: x.shape.slice(1), dtype: x.dtype })),
        ...yAvals,
      ],
    );
    const outs = bind(
      scanP,
      [
        ...tBody.consts,
        ...resConsts,
        ...cts.slice(0, nk),
        ...linConsts.map((c) => zerosLike(c.aval)),
        ...resXs,
        ...cts.slice(nk),
      ],
      {
        body: tBody.graph,
        numConsts: tBody.consts.length + resConsts.length,
        numCarry: nk + linConsts.length,
        length,
        reverse: !reverse,
      },
    );
    const ctCarry = outs.slice(0, nk),
      ctLinConsts = outs.slice(nk, nk + linConsts.length),
      ctLinXs = outs.slice(nk + linConsts.length);
    let a = 0,
      b = 0;
    return inputs.map((x, i) =>
      i < nc
        ? isLin[i]
          ? ctLinConsts[a++]
          : null
        : i < nc + nk
          ? x instanceof UndefinedPrimal
            ? ctCarry[i - nc]
            : null
          : isLin[i]
            ? ctLinXs[b++]
            : null,
    );
  },
});

// Partial evaluation (for reverse mode): find which carries are unknown by fixpoint, then split
// the body. Residuals that are known consts stay consts; all others are stacked per step.
function partialEvalScan(eqn: Eqn, unknownIns: boolean[]): PartialEvalResult {
  const p = eqn.params as ScanParams;
  const { body, numConsts: nc, numCarry: nk, length } = p;
  const ny = body.outs.length - nk;
  let carryU = unknownIns.slice(nc, nc + nk);
  let pe = partialEval(
    body,
    [...unknownIns.slice(0, nc), ...carryU, ...unknownIns.slice(nc + nk)],
    [...carryU, ...new globalThis.Array(ny).fill(false)],
  );
  for (;;) {
    const next = carryU.map((u, i) => u || pe.outUnknown[i]);
    if (next.every((u, i) => u === carryU[i])) break;
    carryU = next;
    pe = partialEval(
      body,
      [...unknownIns.slice(0, nc), ...carryU, ...unknownIns.slice(nc + nk)],
      [...carryU, ...new globalThis.Array(ny).fill(false)],
    );
  }
  const inU = [...unknownIns.slice(0, nc), ...carryU, ...unknownIns.slice(nc + nk)];
  const yU = pe.outUnknown.slice(nk);
  const knownConstVars = new Set(
    body.inVars
      .slice(0, nc)
      .filter((_, i) => !inU[i])
      .map((v) => v.id),
  );
  const constRes = pe.residuals.map((v) => knownConstVars.has(v.id));
  // Known scan: [known consts, known carry, known xs] -> [known carry', known ys, stacked residuals]
  const knownOuts = body.outs.filter((_, i) => !pe.outUnknown[i]);
  const stackedRes = pe.residuals.filter((_, i) => !constRes[i]);
  const knownBody = new Graph(pe.known.inVars, pe.known.eqns, [...knownOuts, ...stackedRes]);
  const resVars = stackedRes.map((v) => new Var(stackedAval(v.aval, length)));
  const ins = eqn.inputs;
  const knownInputs = ins.filter((_, i) => !inU[i]);
  const known: Eqn = {
    prim: scanP,
    inputs: knownInputs,
    outs: [...eqn.outs.filter((_, i) => !pe.outUnknown[i]), ...resVars],
    params: {
      ...p,
      body: knownBody,
      numConsts: unknownIns.slice(0, nc).filter((u) => !u).length,
      numCarry: carryU.filter((u) => !u).length,
    },
  };
  // Unknown scan: consts [const residuals, unknown consts], carry [unknown carry], xs [stacked residuals, unknown xs]
  const resIn = pe.unknown.inVars.slice(0, pe.numResiduals);
  const uIn = pe.unknown.inVars.slice(pe.numResiduals);
  const nuc = unknownIns.slice(0, nc).filter(Boolean).length,
    nuk = carryU.filter(Boolean).length;
  const unknownBody = new Graph(
    [
      ...resIn.filter((_, i) => constRes[i]),
      ...uIn.slice(0, nuc),
      ...uIn.slice(nuc, nuc + nuk),
      ...resIn.filter((_, i) => !constRes[i]),
      ...uIn.slice(nuc + nuk),
    ],
    pe.unknown.eqns,
    pe.unknown.outs,
  );
  const constResAtoms = pe.residuals.filter((_, i) => constRes[i]).map((v) => ins[body.inVars.indexOf(v)]);
  const unknown: Eqn = {
    prim: scanP,
    inputs: [
      ...constResAtoms,
      ...ins.slice(0, nc).filter((_, i) => inU[i]),
      ...ins.slice(nc, nc + nk).filter((_, i) => carryU[i]),
      ...resVars,
      ...ins.slice(nc + nk).filter((_, i) => inU[nc + nk + i]),
    ],
    outs: eqn.outs.filter((_, i) => pe.outUnknown[i]),
    params: { ...p, body: unknownBody, numConsts: constResAtoms.length + nuc, numCarry: nuk },
  };
  return { known: [known], unknown: [unknown], outUnknown: [...carryU, ...yU] };
}

/** Options of {@link scan}. @category Control flow */
export interface ScanOptions {
  /** Number of steps; needed when `xs` is null. */
  length?: number;
  /** Iterate from the last step to the first (ys still line up with xs). */
  reverse?: boolean;
}

/**
 * Loops `f(carry, x) -> [carry, y]` over the leading axis of `xs` (pytrees), returning the
 * final carry and the stacked ys. Differentiable (backprop through time) and batchable.
 * @example
 * const [total, partial] = lax.scan((c, x) => [c.add(x), c.add(x)], np.zeros([]), np.arange(5,
 * undefined, 1, {dtype: 'float32'}));
 * @category Control flow
 */
export function scan<C, X, Y>(f: (carry: C, x: X) => [C, Y], init: C, xs: X, opts: ScanOptions = {}): [C, Y] {
  const [initLeaves, initDef] = flattenArgs([init]);
  const [xsLeaves, xsDef] = flattenArgs([xs]);
  const paths = leafPaths(xsDef, 'xs');
  const length = opts.length ?? xsLeaves[0]?.shape[0];
  if (length === undefined) throw new ValueError('scan: pass xs with a leading axis or the length option');
  xsLeaves.forEach((x, i) => {
    if (x.ndim === 0 || x.shape[0] !== length)
      throw new ShapeError(
        `scan: ${paths[i].replace(/^xs\[0\]/, 'xs')} has shape [${x.shape}] but the scan length is ${length}`,
      );
  });
  const nk = initLeaves.length;
  let yDef: ReturnType<typeof flattenArgs>[1] | undefined;
  const closed = traceToGraph(
    (...ins) => {
      const carry = unflatten(initDef, ins.slice(0, nk))[0];
      const x = unflatten(xsDef, ins.slice(nk))[0];
      const [c2, y] = f(carry, x);
      const [cl, cd] = flattenArgs([c2]);
      checkSameTypes(
        'scan',
        'the body',
        initDef,
        initLeaves.map((l) => l.aval),
        cd,
        cl.map((l) => l.aval),
      );
      const [yl, yd] = flattenArgs([y]);
      yDef = yd;
      return [...cl, ...yl];
    },
    [...initLeaves.map((l) => l.aval), ...xsLeaves.map((x) => ({ shape: x.shape.slice(1), dtype: x.dtype }))],
  );
  const outs = bind(scanP, [...closed.consts, ...initLeaves, ...xsLeaves], {
    body: closed.graph,
    numConsts: closed.consts.length,
    numCarry: nk,
    length,
    reverse: opts.reverse ?? false,
  });
  return [unflatten(initDef, outs.slice(0, nk))[0], unflatten(yDef!, outs.slice(nk))[0]];
}
