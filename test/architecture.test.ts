// The import direction DESIGN.md draws, checked on every source file: core <- primitives <-
// transforms/control (and compile, kernels/, the ONNX lowering) <- backend <- np <- random <- nn/optim
// (and ONNX export/import) <- models/io <- the public index. ESLint's import-x/no-cycle (in
// `npm test`) forbids cycles within a layer.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { samples } from '../laws/index.js';
import { lowerGraph } from '../kernels/emit.js';
import { runsOnHost } from '../src/backend/webgpu.js';
import { prepareGraph } from '../src/compile/plan.js';
import { Graph } from '../src/core/ir.js';
import { registry } from '../src/index.js';

const src = join(import.meta.dirname, '../src');
const layers: [RegExp, number][] = [
  [/^(core\/|tree\.ts$)/, 0],
  [/^primitives\/|^\.\.\/kernels\/cpu\//, 1], // a primitive's CPU kernel (WebAssembly matmul) sits with it
  [/^(transforms|control|compile|distributed)\/|^lax\.ts$|^onnx\/(lower|generated\/onnx_pb)\.ts$|^\.\.\/kernels\//, 2],
  [/^backend\//, 3],
  [/^np\//, 4],
  [/^random\.ts$/, 5],
  [/^(nn|optim|onnx)\//, 6],
  [/^(models|io)\//, 7],
  [/^index\.ts$/, 8],
];
const layerOf = (file: string) => {
  const hit = layers.find(([re]) => re.test(file));
  if (!hit) throw new Error(`${file} has no layer: add it to test/architecture.test.ts and DESIGN's picture`);
  return hit[1];
};
const files = (readdirSync(src, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));

describe('architecture', () => {
  it('every source file imports only from its own layer or the layers below', () => {
    const upward: string[] = [];
    for (const file of files) {
      const text = readFileSync(join(src, file), 'utf8');
      for (const [, spec] of text.matchAll(/(?:import|export)[^'"]*?from '(\.[^']+)'/g)) {
        const target = relative(src, normalize(join(dirname(join(src, file)), spec))).replace(/\.js$/, '.ts');
        if (layerOf(target) > layerOf(file)) upward.push(`${file} -> ${target}`);
      }
    }
    expect(upward).toEqual([]);
  });
  it('the check sees the imports it judges', () => {
    expect(files.length).toBeGreaterThan(60);
    expect(layerOf('np/convert.ts')).toBeGreaterThan(layerOf('transforms/jit.ts'));
  });
  it('the compiler, kernels, backends and transforms ask primitives by property or by object, never by name', () => {
    const byName =
      /prim\.name\s*[!=]==|registry\.get\(|\.prim\.name\]|\w+\.get\(\w+\.prim\.name\)|switch \(\w+\.prim\.name\)/;
    const dirs = ['compile', 'backend', '../kernels', 'transforms', 'control', 'onnx'];
    const hits = dirs.flatMap((d) =>
      (readdirSync(join(src, d), { recursive: true }) as string[])
        .filter((f) => f.endsWith('.ts'))
        .flatMap((f) =>
          readFileSync(join(src, d, f), 'utf8')
            .split('\n')
            .flatMap((line, i) => (byName.test(line) ? [`${d}/${f}:${i + 1}: ${line.trim()}`] : [])),
        ),
    );
    expect(hits).toEqual([]);
    // the pattern catches what it forbids
    expect(byName.test("if (e.prim.name === 'call')")).toBe(true);
    expect(byName.test('const rule = partialEvalRules.get(e.prim.name);')).toBe(true);
  });
});

describe('every primitive has the rules the compilers ask for', () => {
  // JavaScript between ONNX Runtime sessions (docs/onnx.md): no ONNX operator computes these as the kernels do.
  // The decompositions too (ONNX has none; docs/linalg.md), and WebGPU refuses them for now (docs/webgpu.md).
  const decompositions = ['cholesky', 'triangular_solve', 'lu', 'qr', 'eigh', 'svd'];
  const jsOnCpu = [
    'erf_inv',
    'atan2',
    'shift_left',
    'shift_right_logical',
    'bitcast',
    'threefry2x32',
    'cond',
    'while',
    'all_reduce', // MPI between ONNX Runtime sessions (docs/distributed.md)
    'all_gather_processes',
    ...decompositions,
  ];
  // Made only inside transposition (customVjp's backward rule), or collectives, which a named mapped
  // axis rewrites into reductions and gathers: they never reach a backend.
  const transposeOnly = ['custom_lin'];
  const mappedOnly = ['psum', 'pmax', 'pmin', 'all_gather', 'psum_scatter', 'ppermute'];
  it('WebGPU: each sample row lowers to WGSL kernels, or the backend runs it from the host', () => {
    const missing = new Set<string>();
    for (const row of samples()) {
      // Control flow and MPI's collectives run from the host between device segments.
      if ([...transposeOnly, ...mappedOnly].includes(row.prim.name) || runsOnHost(row)) continue;
      const avals = row.inputs.map((a) => a.aval);
      try {
        lowerGraph(prepareGraph(Graph.ofEquation(row.prim, avals, row.params)), 8, 16);
      } catch (e) {
        missing.add(`${row.prim.name}: ${(e as Error).message.slice(0, 80)}`);
      }
    }
    expect([...missing]).toEqual([]);
  });
  it('ONNX: each primitive has a lowering, or is one of the documented JavaScript steps', () => {
    const without = [...registry.values()].filter((p) => !p.onnx).map((p) => p.name);
    expect(without.sort()).toEqual([...jsOnCpu, ...transposeOnly, ...mappedOnly].sort());
  });
  it('reverse mode: every primitive that holds a program splits it under partial evaluation', () => {
    // A control primitive without the rule would be wholly unknown under linearize: its forward pass
    // recomputed inside the backward one. Custom rules ('function') are replaced by their rule first.
    const control = [...registry.values()].filter((p) => p.props?.control && p.props.inline !== 'function');
    expect(control.length).toBeGreaterThanOrEqual(5);
    expect(control.filter((p) => !p.partialEval).map((p) => p.name)).toEqual([]);
  });
  it('every primitive has a sample row (so the laws and the checks above reach it)', () => {
    const sampled = new Set(samples().map((r) => r.prim.name));
    expect([...registry.keys()].filter((k) => !sampled.has(k))).toEqual([]);
  });
});
