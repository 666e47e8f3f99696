// Real processes on this machine: `mpiexec -n 2` and `-n 4` on loopback (Debian's MPICH, installed by
// .ci/run), every byte between them through MPI. Collectives on lengths 1, 1,000 and 1,000,003;
// 20 data-parallel SGD steps give the same parameters with 1, 2 and 4 processes; a failing
// process stops the job, non-zero, naming itself.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

const worker = fileURLToPath(new URL('./mpi/worker.ts', import.meta.url));
const hasMpi = spawnSync('mpiexec', ['--version'], { encoding: 'utf8' }).status === 0;
// node itself (not npx): MPI's launcher hands each process a connection that npx would not pass on.
// One ONNX Runtime thread per process: several processes share this machine's cores (and the
// test runner's other files run beside them).
const env = { ...process.env, FLUXION_ORT_THREADS: '1' };
const run = (n: number, mode: string, extra: Record<string, string> = {}) =>
  spawnSync('mpiexec', ['-n', String(n), process.execPath, '--import', 'tsx', worker, mode], {
    encoding: 'utf8',
    timeout: 400_000,
    env: { ...env, ...extra },
  });
const lines = (out: string) =>
  out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));

describe('MPI: real processes', () => {
  if (!hasMpi) {
    it('needs mpiexec (Debian mpich, installed by .ci/run)', () => {
      console.log('MPI tests skipped: mpiexec is not installed on this machine');
    });
    return;
  }
  for (const n of [2, 4])
    it(`${n} processes: psum, pmean, pmax, pmin of 1, 1,000 and 1,000,003 floats, broadcast and bucketed pmean equal the reference`, () => {
      const r = run(n, 'collectives');
      expect(r.status, r.stderr).toBe(0);
      const outs = lines(r.stdout);
      expect(outs.map((o) => o.rank).sort()).toEqual([...Array(n).keys()]);
      const sumRanks = (n * (n + 1)) / 2;
      for (const o of outs)
        for (const len of [1, 1000, 1_000_003]) {
          const [first, last, mean, max, min] = o.out[len];
          expect(first).toBeCloseTo(sumRanks, 5);
          expect(last).toBeCloseTo(sumRanks + n * (len - 1) * 1e-6, 2);
          expect(mean).toBeCloseTo(sumRanks / n, 5);
          expect([max, min]).toEqual([n, 1]);
        }
      for (const o of outs) {
        expect(o.broadcast).toEqual([n, n, n]); // from the last process
        const mean = (n + 1) / 2;
        expect(o.buckets).toEqual([mean, 2 * mean, mean + 1]);
      }
    }, 500_000);
  it('2 processes of 2 devices: allGather, psumScatter, ppermute, axisIndex and grad through allGather span all 4 members; after shutdown collectives refuse', () => {
    const r = run(2, 'gather', { FLUXION_CPU_DEVICES: '2' });
    expect(r.status, r.stderr).toBe(0);
    const outs = lines(r.stdout).sort((a, b) => a.rank - b.rank);
    expect(outs.length).toBe(2);
    const all = [0, 1, 2, 3].flatMap((g) => [10 * g, 10 * g + 1]);
    for (const o of outs) {
      const own = [0, 1].map((l) => o.rank * 2 + l); // this process's members
      expect(o.local).toBe(2);
      expect(o.gathered).toEqual([...all, ...all]); // every member sees all four, stacked
      expect(o.tiled).toEqual([...all, ...all]);
      // sum over members m of (m + 1) * [0..7] = 10 * [0..7]; member g keeps block g.
      expect(o.scattered).toEqual(own.flatMap((g) => [20 * g, 20 * g + 10]));
      expect(o.shifted).toEqual(own.flatMap((g) => [10 * ((g + 3) % 4), 10 * ((g + 3) % 4) + 1]));
      expect(o.index).toEqual(own);
      // Every member's loss reads member g's value with weights w[g]: 4 * w[g].
      expect(o.grad).toEqual(own.flatMap((g) => [8 * g, 8 * g + 4]));
      expect(o.afterShutdown).toMatch(/psum after distributed.shutdown\(\): this process has left the job/);
    }
  }, 500_000);
  it('2 processes on WebGPU: distributed.allReduce between steps, and lax.pmean/allGather inside a pmap step through MPI between its GPU segments', () => {
    const r = run(2, 'webgpu');
    expect(r.status, r.stderr).toBe(0);
    const outs = lines(r.stdout);
    expect(outs.length).toBe(2);
    if (outs[0].skipped) return console.log(`MPI + WebGPU skipped: ${outs[0].skipped}`);
    for (const o of outs) {
      expect(o.onGpu).toBe(true);
      expect(o.diff).toBeLessThan(1e-5); // the full-batch gradient
      expect(o.stepDiff).toBeLessThan(1e-5); // five data-parallel steps = five full-batch steps
      expect(o.gathered.length).toBe(2); // each process's loss, on every process
      expect((o.gathered[0] + o.gathered[1]) / 2).toBeCloseTo(o.fullLoss, 5);
      expect(o.gathered).toEqual(outs[0].gathered);
      // A failed host step fails what was computed from it, naming the collective and the sizes.
      expect(o.failure).toMatch(/all_reduce \(run on the host\): .*psum: the processes hold different sizes \(3 to 4/);
    }
  }, 300_000);
  it('processes that psum different sizes all stop with an error naming the sizes', () => {
    const r = run(2, 'mismatch');
    expect(r.status).not.toBe(0);
    expect(r.stdout).not.toContain('unexpected');
    expect(r.stderr).toMatch(/psum: the processes hold different sizes \(3 to 4 elements/);
  }, 120_000);
  it('20 SGD steps of an MLP on a global batch of 256 give the same parameters with 1, 2 and 4 processes', () => {
    const results = [1, 2, 4].map((n) => {
      const checkpoint = `${tmpdir()}/fluxion-mpi-train-${process.pid}-${n}.safetensors`;
      const r = run(n, 'train', { FLUXION_TEST_CHECKPOINT: checkpoint });
      expect(r.status, r.stderr).toBe(0);
      const outs = lines(r.stdout);
      expect(outs.length).toBe(n);
      // Every process holds identical parameters, and reads them back from process 0's checkpoint.
      for (const o of outs) expect([o.weights, o.checkpoint]).toEqual([outs[0].weights, true]);
      expect(readdirSync(tmpdir()).filter((f) => f.startsWith(`fluxion-mpi-train-${process.pid}-${n}.`))).toEqual([
        `fluxion-mpi-train-${process.pid}-${n}.safetensors`, // no temporary file left behind
      ]);
      rmSync(checkpoint);
      return outs[0].weights as number[];
    });
    for (const w of results.slice(1)) w.forEach((v, i) => expect(Math.abs(v - results[0][i])).toBeLessThan(1e-5));
  }, 900_000);
  it('`mpiexec -pmi-port -n 2 npm start` trains LeNet-5 data-parallel to the single-process loss and accuracy', () => {
    const args = ['start', '--', '--epochs', '1', '--limit', '1024', '--test-limit', '500', '--backend', 'cpu'];
    const root = fileURLToPath(new URL('..', import.meta.url));
    const single = spawnSync('npm', [...args, '--out', '/tmp/fluxion-mpi-1'], { cwd: root, encoding: 'utf8', env });
    // -pmi-port: the launcher's connection survives npm's child processes.
    const two = spawnSync('mpiexec', ['-pmi-port', '-n', '2', 'npm', ...args, '--out', '/tmp/fluxion-mpi-2'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 400_000,
      env,
    });
    expect(single.status, single.stderr).toBe(0);
    expect(two.status, two.stderr).toBe(0);
    expect(two.stdout).toMatch(/2 processes \(MPI\)/);
    const summary = (out: string) =>
      out
        .match(/train loss ([\d.]+), test accuracy ([\d.]+)%/)!
        .slice(1)
        .map(Number);
    const [l1, a1] = summary(single.stdout),
      [l2, a2] = summary(two.stdout);
    expect(Math.abs(l1 - l2)).toBeLessThan(1e-3);
    expect(Math.abs(a1 - a2)).toBeLessThanOrEqual(0.4);
  }, 900_000);
  it('a process that throws makes the job exit non-zero within 30 s, naming the failed process', () => {
    const t0 = Date.now();
    const r = run(2, 'fail');
    expect(r.status).not.toBe(0);
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(r.stderr).toMatch(/fluxion: process 1 of 2 failed: rank 1 fails on purpose/);
    expect(r.stdout).not.toMatch(/passed the barrier/);
  }, 60_000);
  it('a killed process makes the job exit non-zero within 30 s', () => {
    const t0 = Date.now();
    const r = run(2, 'killed');
    expect(r.status).not.toBe(0);
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(r.stdout).not.toMatch(/passed the barrier/);
  }, 60_000);
});
