// Every registered primitive runs through every law that applies to it, from one table.
import { afterAll, describe, expect, it } from 'vitest';
import { type Array, type DType, DTypeError, makeGraph, registry, np } from '../src/index.js';
import { bind } from '../src/core/trace.js';
import { subGraphs, typecheckGraph } from '../src/core/ir.js';
import {
  type Tolerance,
  samples,
  rng,
  gradMatchesFiniteDifferences,
  jitIsTransparent,
  transposeIsAdjoint,
  vjpIsAdjointOfJvp,
  vmapCommutesWithMap,
} from '../laws/index.js';

const rows = samples();

describe('primitive table', () => {
  it('has a sample row for every registered primitive', () => {
    const covered = new Set(rows.map((r) => r.prim?.name));
    const missing = [...registry.keys()].filter((n) => !covered.has(n));
    expect(missing).toEqual([]);
  });
});

for (const row of rows) {
  const { prim, inputs, params } = row;
  const apply = (...xs: any[]) => bind(prim, xs, params);
  describe(row.label, () => {
    if (row.mappedOnly) {
      it('is refused outside a named mapped axis, clearly', () => {
        console.log(`${row.label}: ${row.mappedOnly}`);
        expect(() => apply(...inputs)).toThrow(/is not bound here/);
      });
      return;
    }
    if (row.noEval) {
      it('is transposable', () => {
        console.log(`${row.label}: forward laws skipped: ${row.noEval}`);
        expect(transposeIsAdjoint(prim, inputs, params, row.linearIn, rng(7), undefined, row.forward)).toBe(true);
      });
      return;
    }
    it('evaluates to the avals its shape rule declares, and stages to a well-typed graph', () => {
      const outs = apply(...inputs);
      const avals = prim.abstractEval(
        inputs.map((x) => x.aval),
        params,
      );
      expect(outs.map((o) => [o.dtype, [...o.shape]])).toEqual(avals.map((a) => [a.dtype, [...a.shape]]));
      typecheckGraph(makeGraph(apply)(...inputs));
    });
    it('jit is transparent', () => {
      expect(jitIsTransparent(apply, inputs)).toBe(true);
    });
    if (inputs.length > 0) {
      it('vmap commutes with map', () => {
        // Three examples: floats perturbed, others repeated; the last input stays unbatched when there are several.
        const axes = inputs.map((x, i) =>
          inputs.length > 1 && i === inputs.length - 1 && prim.name !== 'threefry2x32' ? null : i % (x.ndim + 1),
        );
        const batched = inputs.map((x, i) => {
          if (axes[i] === null) return x;
          const copies = [0, 1, 2].map((k) => (x.dtype === 'float32' && row.diff.length ? np.add(x, 0.01 * k) : x));
          return np.stack(copies, { axis: axes[i]! });
        });
        expect(vmapCommutesWithMap(apply, batched, axes)).toBe(true);
      });
    }
    if (row.diff.length) {
      it('jvp matches finite differences', () => {
        expect(gradMatchesFiniteDifferences(apply, inputs, row.diff, rng(1))).toBe(true);
      });
      if (row.noReverse) {
        it('refuses reverse mode with a clear error', () => {
          expect(() => vjpIsAdjointOfJvp(apply, inputs, row.diff, rng(2))).toThrow(row.noReverse);
        });
      } else {
        it('vjp is the adjoint of jvp', () => {
          expect(vjpIsAdjointOfJvp(apply, inputs, row.diff, rng(2))).toBe(true);
        });
      }
    }
    if (row.linearIn.length) {
      it('transpose is the adjoint', () => {
        expect(transposeIsAdjoint(prim, inputs, params, row.linearIn, rng(3))).toBe(true);
      });
    }
  });
}

// The laws again in float64, at tolerances 1000x tighter than float32's (a smaller finite-difference
// step: its truncation error shrinks with the step squared, and float64 rounding allows it).
const float64Laws = {
  finiteDifferences: { eps: 1e-5, tol: { rtol: 2e-5, atol: 2e-6 } },
  adjoint: { rtol: 1e-9, atol: 1e-10 },
};
const isFloatDType = (d: DType) => d.startsWith('float') || d === 'bfloat16';
const toFloat64 = (xs: Array[]) => xs.map((x) => (x.dtype === 'float32' ? x.astype('float64') : x));

describe('laws in float64', () => {
  for (const row of rows) {
    // Rows with graphs are traced for float32 (their bodies are rows here too).
    if (row.noEval || row.mappedOnly || !row.diff.length || subGraphs(row.params).length) continue;
    if (!row.diff.every((i) => row.inputs[i].dtype === 'float32')) continue;
    const inputs = toFloat64(row.inputs);
    const apply = (...xs: Array[]) => bind(row.prim, xs, row.params);
    // A cast to float32 is only as precise as float32.
    const outs = row.prim.abstractEval(
      inputs.map((x) => x.aval),
      row.params,
    );
    if (outs.some((o) => o.dtype !== 'float64' && isFloatDType(o.dtype))) continue;
    it(`${row.label}: jvp matches finite differences, vjp is its adjoint`, () => {
      const { eps, tol } = float64Laws.finiteDifferences;
      expect(gradMatchesFiniteDifferences(apply, inputs, row.diff, rng(1), eps, tol)).toBe(true);
      if (!row.noReverse) expect(vjpIsAdjointOfJvp(apply, inputs, row.diff, rng(2), float64Laws.adjoint)).toBe(true);
    });
  }
});

// Each row in every dtype of its kind the primitive accepts: the result has the declared dtype, and
// the compiled CPU path (ONNX Runtime computing narrow dtypes wider and rounding after every
// operation) equals the JavaScript kernels up to a unit in the last place of the dtype.
const DTYPE_TOLERANCE: Record<string, Tolerance> = {
  float64: { rtol: 1e-12, atol: 1e-13 },
  float16: { rtol: 2e-3, atol: 1e-3 },
  bfloat16: { rtol: 1.6e-2, atol: 8e-3 },
  int16: { rtol: 0, atol: 0 },
  int8: { rtol: 0, atol: 0 },
  uint16: { rtol: 0, atol: 0 },
  uint8: { rtol: 0, atol: 0 },
};
const KIND: Record<string, DType[]> = {
  float32: ['float64', 'float16', 'bfloat16'],
  int32: ['int16', 'int8'],
  uint32: ['uint16', 'uint8'],
};

describe('every dtype a primitive accepts', () => {
  const accepted = new Map<string, Set<string>>();
  afterAll(() => {
    const lines = [...accepted].map(([d, prims]) => `${d}: ${prims.size} primitives`);
    console.log(`dtype sweep: ${lines.join('; ')}`);
  });
  for (const row of rows) {
    // Control flow and jit calls carry graphs traced for their operands' dtypes: their bodies are the rows here.
    if (row.noEval || row.mappedOnly || subGraphs(row.params).length) continue;
    const kinds = new Set(row.inputs.map((x) => x.dtype).filter((d) => KIND[d]));
    for (const from of kinds)
      for (const to of KIND[from]) {
        const inputs = row.inputs.map((x) => (x.dtype === from ? x.astype(to) : x));
        let declared: { dtype: string; shape: readonly number[] }[];
        try {
          declared = row.prim.abstractEval(
            inputs.map((x) => x.aval),
            row.params,
          );
        } catch (e) {
          if (!(e instanceof DTypeError)) throw e;
          continue; // the primitive does not take this dtype; its shape rule said so clearly
        }
        it(`${row.label} in ${to}`, () => {
          (accepted.get(to) ?? accepted.set(to, new Set()).get(to)!).add(row.prim.name);
          const apply = (...xs: Array[]) => bind(row.prim, xs, row.params);
          const outs = apply(...inputs);
          expect(outs.map((o) => o.dtype)).toEqual(declared.map((a) => a.dtype));
          expect(jitIsTransparent(apply, inputs, DTYPE_TOLERANCE[to])).toBe(true);
        });
      }
  }
});
