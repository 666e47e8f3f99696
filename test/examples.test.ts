// The examples stay runnable: each runs as a user would run it (npx tsx), on small settings.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const run = (...args: string[]) =>
  execFileSync('npx', ['tsx', ...args], {
    encoding: 'utf8',
    timeout: 180_000,
    env: { ...process.env, FLUXION_BACKEND: '' },
  });

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
  it('lenet-mnist.ts (the main job) trains on real MNIST and reports accuracy', () => {
    const out = run('examples/lenet-mnist.ts', '--limit', '1024', '--test-limit', '500', '--backend', 'cpu');
    expect(out).toMatch(/step 16\/16/);
    const acc = Number(/test accuracy: ([\d.]+)%/.exec(out)![1]);
    expect(acc).toBeGreaterThan(30); // 1024 images, one pass: far above chance (10%)
  });
});
