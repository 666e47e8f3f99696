// The examples stay runnable: each runs as a user would run it (npx tsx), on small settings.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/** Runs an example as a user would; its stdout and stderr (where progress bars go) together. */
const run = (...args: string[]) => {
  const r = spawnSync('npx', ['tsx', ...args], {
    encoding: 'utf8',
    timeout: 180_000,
    env: { ...process.env, FLUXION_BACKEND: '' },
  });
  if (r.status !== 0) throw new Error(`${args[0]} exited with ${r.status}: ${r.stderr.slice(-2000)}`);
  return r.stdout + r.stderr;
};

describe('examples', () => {
  it('transforms.ts prints per-example gradients, an HVP and a graph', () => {
    const out = run('examples/transforms.ts');
    expect(out).toContain('per-example gradients [4, 3]');
    expect(out).toContain('shape=(4, 3), dtype=float32');
    expect(out).toMatch(/\{ lambda .*\n(.*\n)*.*dot_general/);
  });
  it('fit.ts drives the loss down', () => {
    const losses = [...run('examples/fit.ts').matchAll(/mse ([\d.]+)/g)].map((m) => Number(m[1]));
    expect(losses.length).toBe(6);
    expect(losses[5]).toBeLessThan(losses[0] / 5);
  });
  it('rnn.ts trains an LSTM by backpropagation through time', () => {
    const losses = [...run('examples/rnn.ts').matchAll(/mse ([\d.]+)/g)].map((m) => Number(m[1]));
    expect(losses.length).toBe(6);
    expect(losses[5]).toBeLessThan(losses[0] / 3);
  });
  it('lenet-mnist.ts (the main job) trains on real MNIST, saves a checkpoint and curves, and resumes', () => {
    const out = mkdtempSync(join(tmpdir(), 'fluxion-start-'));
    const common = ['--limit', '1024', '--test-limit', '500', '--backend', 'cpu', '--out', out];
    const first = run('examples/lenet-mnist.ts', ...common, '--epochs', '1');
    expect(first).toMatch(/epoch 1\/1 \[.*\] 16\/16 \| loss [\d.]+ \| acc [\d.]+% \| \d+ img\/s/);
    const acc = Number(/test accuracy: ([\d.]+)%/.exec(first)![1]);
    expect(acc).toBeGreaterThan(30); // 1024 images, one pass: far above chance (10%)
    expect(readdirSync(out).sort()).toEqual(['lenet5-mnist.safetensors', 'lenet5-mnist.svg']);
    expect(readFileSync(join(out, 'lenet5-mnist.svg'), 'utf8')).toMatch(/<svg[^]*<polyline[^]*test/);
    const second = run('examples/lenet-mnist.ts', ...common, '--epochs', '2', '--resume');
    expect(second).toMatch(/resumed from .* at epoch 1 \(step 16\)/);
    expect(second).not.toMatch(/epoch 1\/2/);
    expect(second).toMatch(/epoch 2\/2: train loss/);
  });
  it('char-gpt.ts trains a small GPT on the fortunes corpus, prints samples and draws its loss curve', () => {
    const out = mkdtempSync(join(tmpdir(), 'fluxion-gpt-'));
    const small = [
      '--steps',
      '60',
      '--layers',
      '1',
      '--width',
      '32',
      '--heads',
      '2',
      '--context',
      '32',
      '--batch',
      '16',
    ];
    const log = run('examples/char-gpt.ts', ...small, '--out', out);
    expect(log).toMatch(/corpus: \d+ characters, \d+ distinct/);
    expect(log).toMatch(/sample after 20 steps:\n/);
    const [, last, first] = /final loss: ([\d.]+) \(from ([\d.]+)\)/.exec(log)!;
    expect(Number(last)).toBeLessThan(Number(first) * 0.85);
    expect(readFileSync(join(out, 'char-gpt-loss.svg'), 'utf8')).toMatch(/<svg[^]*<polyline/);
  });
  it('lenet-mnist.ts in bfloat16 and float16 (mixed precision) reaches float32 accuracy within 0.3 points, with half the parameter bytes', () => {
    // One epoch on the whole of MNIST per dtype: the same data order, initialisation and schedule.
    const results = Object.fromEntries(
      (['float32', 'bfloat16', 'float16'] as const).map((dtype) => {
        const out = mkdtempSync(join(tmpdir(), `fluxion-${dtype}-`));
        const log = run('examples/lenet-mnist.ts', '--epochs', '1', '--backend', 'cpu', '--dtype', dtype, '--out', out);
        const accuracy = Number(/test accuracy: ([\d.]+)%/.exec(log)![1]);
        const bytes = Number(/(\d+) parameter bytes/.exec(log)![1]);
        console.log(`LeNet-5, one epoch, ${dtype}: test accuracy ${accuracy}%`);
        return [dtype, { accuracy, bytes }];
      }),
    );
    expect(results.float32.accuracy).toBeGreaterThan(97);
    expect(results.float32.bytes).toBe(61706 * 4); // LeNet-5's 61,706 parameters
    for (const dtype of ['bfloat16', 'float16']) {
      expect(Math.abs(results[dtype].accuracy - results.float32.accuracy)).toBeLessThanOrEqual(0.3);
      expect(results[dtype].bytes).toBe(results.float32.bytes / 2);
    }
  }, 600_000);
});
