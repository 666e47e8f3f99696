// Every registered primitive runs through every law that applies to it, from one table.
import { describe, expect, it } from 'vitest';
import { makeGraph, registry, np } from '../src/index.js';
import { bind } from '../src/core/trace.js';
import { typecheckGraph } from '../src/core/ir.js';
import {
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
