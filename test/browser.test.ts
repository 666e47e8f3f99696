// Browser smoke test: the bundled library in headless Chromium (WebGPU on SwiftShader) runs a
// jitted grad on WebGPU and on ONNX Runtime Web (the browser's CPU path), and both match the
// JavaScript CPU values computed in the same page.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { haveChromium, runPage } from './chromium.js';

const page = `<!doctype html><script type="module">
import { np, jit, grad, toDevice, initWebGPU, initOnnxRuntimeWeb, PendingArray } from './fluxion.js';
import * as ort from './ort/ort.bundle.min.mjs';
try {
  const dev = await initWebGPU();
  const f = (x) => np.sum(np.tanh(np.matmul(x, np.transpose(x))).multiply(0.5));
  const x = np.array([[0.1, -0.2, 0.3], [0.4, 0.05, -0.6]]);
  const cpu = Array.from(jit(grad(f))(x).dataSync());
  const gpu = Array.from(await jit(grad(f))(await toDevice(x, 'webgpu')).data());
  await initOnnxRuntimeWeb(ort);
  const pendingResult = jit(grad(f))(x);
  const web = Array.from(await pendingResult.data());
  window.result = { adapter: dev && dev.adapterInfo, cpu, gpu, web, pending: pendingResult instanceof PendingArray };
} catch (e) { window.result = { error: String(e && e.stack || e) }; }
</script>`;

describe('browser', () => {
  it('runs a jitted grad on WebGPU in headless Chromium, equal to the CPU result', async (ctx) => {
    if (!haveChromium('browser test')) return ctx.skip();
    const dir = mkdtempSync(join(tmpdir(), 'fluxion-browser-'));
    await build({
      entryPoints: ['src/index.ts'],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      outfile: join(dir, 'fluxion.js'),
      external: ['webgpu', 'node:*'],
      logLevel: 'error',
    });
    const result = await runPage(dir, page);
    expect(result.error).toBeUndefined();
    console.log(`browser WebGPU adapter: ${result.adapter}`);
    expect(result.gpu.length).toBe(6);
    result.gpu.forEach((v: number, i: number) => expect(v).toBeCloseTo(result.cpu[i], 4));
    expect(result.pending).toBe(true);
    expect(result.web.length).toBe(6);
    result.web.forEach((v: number, i: number) => expect(v).toBeCloseTo(result.cpu[i], 5));
  }, 120_000);
});
