// The package as a consumer gets it: `npm pack`, installed into a fresh project without optional
// dependencies, then (a) plain Node runs an ES-module script, (b) strict TypeScript consumers
// (nodenext and bundler resolution) type-check against the shipped .d.ts, (c) esbuild bundles a
// consumer for browsers with no extra flags.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { haveChromium, runPage } from './chromium.js';

const root = process.cwd();
const bin = (name: string) => join(root, 'node_modules', '.bin', name);
const run = (cmd: string, args: string[], cwd: string) =>
  execFileSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });
let consumer = '';

/** Bytes under a folder. */
function sizeOf(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    total += s.isDirectory() ? sizeOf(p) : s.size;
  }
  return total;
}

describe('the packed package, installed into a fresh project', () => {
  beforeAll(() => {
    const work = mkdtempSync(join(tmpdir(), 'fluxion-pack-'));
    run('npm', ['run', 'build'], root);
    const tarball = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], root))[0]
      .filename as string;
    consumer = join(work, 'consumer');
    mkdirSync(consumer);
    writeFileSync(
      join(consumer, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module', private: true }),
    );
    run(
      'npm',
      [
        'install',
        join(work, tarball),
        '--omit=optional',
        '--ignore-scripts',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
      ],
      consumer,
    );
    const mib = sizeOf(join(consumer, 'node_modules')) / 2 ** 20;
    console.log(`consumer install without optional dependencies: ${mib.toFixed(1)} MiB`);
  }, 240_000);

  it('ships the bundled JavaScript, types and maps, and no tests, benches, CI or unbundled modules', () => {
    const files = readdirSync(join(consumer, 'node_modules', 'fluxion'), { recursive: true }) as string[];
    expect(files).toContain(join('dist', 'bundle', 'src', 'index.js'));
    expect(files).toContain(join('dist', 'bundle', 'laws', 'index.js'));
    expect(files).toContain(join('dist', 'src', 'index.d.ts'));
    expect(files.filter((f) => f.startsWith(join('dist', 'bundle')) && f.endsWith('.js.map')).length).toBeGreaterThan(
      0,
    );
    expect(files.filter((f) => /^(test|bench|\.ci|scratch)\b|\.test\.ts$/.test(f))).toEqual([]);
    expect(files.filter((f) => /^dist\/(src|laws|kernels)\/.*\.js$/.test(f))).toEqual([]);
  });

  it('the bundle and its laws entry share one copy of the library', () => {
    writeFileSync(
      join(consumer, 'laws.mjs'),
      "import { np, Array } from 'fluxion';\nimport { jitIsTransparent, randomArray } from 'fluxion/laws';\n" +
        'console.log(jitIsTransparent((x) => np.sum(np.tanh(x)), [np.ones([3])]), randomArray([2], Math.random) instanceof Array);\n',
    );
    const r = spawnSync(process.execPath, ['laws.mjs'], { cwd: consumer, encoding: 'utf8' });
    expect(r.stdout.trim()).toBe('true true');
  });

  it('(a) runs in plain Node as an ES module, with one line saying ONNX Runtime is absent', () => {
    writeFileSync(
      join(consumer, 'app.mjs'),
      "import { grad, jit, np } from 'fluxion';\n" +
        'console.log(JSON.stringify(jit(grad((x) => np.sum(np.square(x))))(np.array([1, 2])).toArray()));\n',
    );
    const r = spawnSync(process.execPath, ['app.mjs'], { cwd: consumer, encoding: 'utf8' });
    expect(r.stdout.trim()).toBe('[2,4]');
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^fluxion: ONNX Runtime is not available \(.*\); jit runs on the JavaScript CPU kernels$/),
    ]);
  });

  for (const resolution of ['nodenext', 'bundler'] as const) {
    it(`(b) type-checks a strict consumer (moduleResolution ${resolution})`, () => {
      writeFileSync(
        join(consumer, 'app.ts'),
        [
          "import { grad, jit, np, nn, random, type Array } from 'fluxion';",
          "import { jitIsTransparent } from 'fluxion/laws';",
          'const loss = (w: Array, x: Array): Array => np.sum(np.tanh(np.matmul(x, w)));',
          'const g: Array = jit(grad(loss))(random.normal(random.key(0), [3, 2]), np.ones([4, 3]));',
          'console.log(g.shape, nn.functional.relu(np.array([-1, 1])).toArray());',
          'console.log(jitIsTransparent(loss, [np.ones([3, 2]), np.ones([4, 3])]));',
          '',
        ].join('\n'),
      );
      writeFileSync(
        join(consumer, `tsconfig.${resolution}.json`),
        JSON.stringify({
          compilerOptions: {
            target: 'ES2022',
            module: resolution === 'bundler' ? 'ESNext' : 'NodeNext',
            moduleResolution: resolution,
            strict: true,
            noUncheckedIndexedAccess: true,
            exactOptionalPropertyTypes: true,
            noEmit: true,
            types: [],
          },
          files: ['app.ts'],
        }),
      );
      expect(() => run(bin('tsc'), ['-p', `tsconfig.${resolution}.json`], consumer)).not.toThrow();
    });
  }

  it('(c) bundles for browsers with esbuild and no extra flags, and the bundle runs in Chromium', async (ctx) => {
    writeFileSync(
      join(consumer, 'page.js'),
      "import { jit, grad, np } from 'fluxion';\n" +
        'window.result = Array.from(jit(grad((x) => np.sum(np.sin(x))))(np.array([0, 1])).dataSync());\n',
    );
    run(
      bin('esbuild'),
      ['page.js', '--bundle', '--platform=browser', '--format=esm', '--outfile=bundle.js', '--log-level=error'],
      consumer,
    );
    const bundle = readFileSync(join(consumer, 'bundle.js'), 'utf8');
    expect(bundle).not.toMatch(/from ["']node:|require\(["']webgpu/);
    if (!haveChromium('running the bundle')) return ctx.skip();
    const result = await runPage(consumer, '<!doctype html><script type="module" src="bundle.js"></script>');
    expect(result).toEqual([1, Math.fround(Math.cos(1))]); // d/dx sum(sin x) = cos x
  }, 120_000);

  it("the bundle's WebGPU probe (a child process importing the bundle) agrees with starting WebGPU", () => {
    const script =
      "import { devices, initWebGPU } from './dist/bundle/src/index.js';\n" +
      'const listed = (await devices()).some((d) => d.name === "webgpu");\n' +
      'console.log(JSON.stringify([listed, (await initWebGPU()) !== null])); process.exit(0);';
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    const [listed, started] = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as [boolean, boolean];
    console.log(`WebGPU listed by the probe: ${listed}, started: ${started}`);
    expect(listed).toBe(started);
  }, 120_000);

  it('states the Node version its code needs', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    expect(pkg.engines.node).toBe('>=20.16');
    expect(typeof process.getBuiltinModule).toBe('function'); // what 20.16 added, and the code uses
  });
});
