// Runs a page in headless Chromium (WebGPU on SwiftShader) and returns its `window.result`:
// shared by the browser smoke test and the packaging test's browser bundle.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const chromium = '/usr/bin/chromium';

/** True when Chromium is installed; in CI its absence is an error, elsewhere a printed skip. */
export function haveChromium(what: string): boolean {
  if (existsSync(chromium)) return true;
  if (process.env.CI) throw new Error('CI=true but /usr/bin/chromium is missing (apt-get install chromium)');
  console.log(`${what} skipped: /usr/bin/chromium is not installed`);
  return false;
}

/** Serves `dir` (with `html` as its index, ONNX Runtime Web under /ort/) and waits for `window.result`. */
export async function runPage(dir: string, html: string): Promise<any> {
  writeFileSync(join(dir, 'index.html'), html);
  const server = createServer((req, res) => {
    // ONNX Runtime Web's module and WebAssembly files, as a page would host them.
    const ortFile = req.url!.startsWith('/ort/') ? join('node_modules/onnxruntime-web/dist', req.url!.slice(5)) : null;
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
    return await tab.evaluate(() => (window as any).result);
  } finally {
    await context.close();
    server.close();
  }
}
