// The import direction DESIGN.md draws, checked on every source file: core <- primitives <-
// transforms/control (and compile, kernels/, the ONNX lowering) <- backend <- np <- random <- nn/optim
// (and ONNX export/import) <- models/io <- the public index. ESLint's import-x/no-cycle (in
// `npm test`) forbids cycles within a layer.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const src = join(import.meta.dirname, '../src');
const layers: [RegExp, number][] = [
  [/^(core\/|tree\.ts$)/, 0],
  [/^primitives\/|^\.\.\/kernels\/cpu\//, 1], // a primitive's CPU kernel (WebAssembly matmul) sits with it
  [/^(transforms|control|compile)\/|^lax\.ts$|^onnx\/(lower|onnx_pb)\.ts$|^\.\.\/kernels\//, 2],
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
});
