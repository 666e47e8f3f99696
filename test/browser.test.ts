// Browser smoke test: the bundled library in headless Chromium (WebGPU on SwiftShader) runs a
// jitted grad on WebGPU and on ONNX Runtime Web (the browser's CPU path), and both match the
// JavaScript CPU values computed in the same page.
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const chromium = '/usr/bin/chromium';
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
    if (!existsSync(chromium)) {
      if (process.env.CI) throw new Error('CI=true but /usr/bin/chromium is missing (apt-get install chromium)');
      console.log('browser test skipped: /usr/bin/chromium is not installed');
      return ctx.skip();
    }
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
    writeFileSync(join(dir, 'index.html'), page);
    const { readFileSync } = await import('node:fs');
    const server = createServer((req, res) => {
      // ONNX Runtime Web's module and WebAssembly files, as a page would host them.
      const ortFile = req.url!.startsWith('/ort/')
        ? join('node_modules/onnxruntime-web/dist', req.url!.slice(5))
        : null;
      const file = ortFile ?? join(dir, req.url === '/' ? 'index.html' : req.url!.slice(1));
      if (!existsSync(file)) return res.writeHead(404).end();
      const type = /\.m?js$/.test(file) ? 'text/javascript' : file.endsWith('.wasm') ? 'application/wasm' : 'text/html';
      res.writeHead(200, { 'content-type': type }).end(readFileSync(file));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const { chromium: pw } = await import('playwright-core');
    const context = await pw.launchPersistentContext(mkdtempSync(join(tmpdir(), 'fluxion-profile-')), {
      executablePath: chromium,
      headless: true,
      args: [
        '--no-sandbox',
        '--enable-unsafe-webgpu',
        '--enable-features=Vulkan',
        '--use-webgpu-adapter=swiftshader',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    });
    try {
      const tab = await context.newPage();
      await tab.goto(`http://127.0.0.1:${port}/`);
      await tab.waitForFunction(() => (window as any).result, null, { timeout: 60_000 });
      const result = await tab.evaluate(() => (window as any).result);
      expect(result.error).toBeUndefined();
      console.log(`browser WebGPU adapter: ${result.adapter}`);
      expect(result.gpu.length).toBe(6);
      result.gpu.forEach((v: number, i: number) => expect(v).toBeCloseTo(result.cpu[i], 4));
      expect(result.pending).toBe(true);
      expect(result.web.length).toBe(6);
      result.web.forEach((v: number, i: number) => expect(v).toBeCloseTo(result.cpu[i], 5));
    } finally {
      await context.close();
      server.close();
    }
  }, 120_000);
});
