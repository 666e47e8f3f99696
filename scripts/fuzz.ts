// The long fuzz campaign: `npm run fuzz [-- --cases 40000 --seed 1]`. Prints one table of
// outcomes and a few examples of each problem; exits non-zero when any must-be-zero class is not.
import { parseArgs } from 'node:util';
import { campaign, makeCases, unsigned } from '../test/fuzz/harness.js';

const { values } = parseArgs({
  options: { cases: { type: 'string', default: '40000' }, seed: { type: 'string', default: '1' } },
});
const missing = unsigned();
if (missing.length) throw new Error(`np functions without a fuzz signature: ${missing.join(', ')}`);
const n = Number(values.cases),
  seed = Number(values.seed);
const t0 = performance.now();
const chunk = 1000;
const total: Record<string, number> = {};
const examples: Record<string, string[]> = {};
for (let done = 0; done < n; done += chunk) {
  const r = campaign(makeCases(seed + done, Math.min(chunk, n - done)));
  for (const [k, v] of Object.entries(r.counts)) total[k] = (total[k] ?? 0) + v;
  for (const [k, v] of Object.entries(r.examples))
    (examples[k] ??= []).push(...v.slice(0, 3 - (examples[k]?.length ?? 0)));
  process.stderr.write(`\r${Math.min(n, done + chunk)}/${n} cases`);
  // Finalizers (which dispose ONNX Runtime sessions of collected jit functions) run between tasks.
  await new Promise((resolve) => setTimeout(resolve, 10));
}
process.stderr.write('\n');
console.log(`| outcome | cases |\n|---|---:|`);
for (const [k, v] of Object.entries(total)) console.log(`| ${k} | ${v} |`);
console.log(`\n${n} cases, seed ${seed}, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
for (const [k, v] of Object.entries(examples).sort()) console.log(`\n${k}\n  ${v.join('\n  ')}`);
const bad = ['wrong result', 'generic error', 'accepted invalid input', 'transform disagrees'].some((k) => total[k]);
process.exit(bad ? 1 : 0);
