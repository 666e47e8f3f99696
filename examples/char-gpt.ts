// A small GPT learns to write like Debian's fortune cookies, one character at a time: GPT-2's
// architecture (models.gpt2) trained with AdamW on the public-domain `fortunes-min` corpus, with a live
// progress bar, samples printed as it learns (models.generate, key/value cache), and the loss curve
// drawn as an SVG.
// Run: npm run example:gpt [-- --steps 600 --batch 32 --context 64 --layers 4 --heads 4 --width 128
//      --lr 3e-3 --corpus /usr/share/games/fortunes/fortunes --out checkpoints]
// The corpus comes from Debian's `fortunes-min` package (apt-get install fortunes-min).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { type NDArray, io, jit, models, nn, np, optim, random, valueAndGrad } from '../src/index.js';
import { chart } from './chart.js';

const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '600' },
    batch: { type: 'string', default: '32' },
    context: { type: 'string', default: '64' },
    layers: { type: 'string', default: '4' },
    heads: { type: 'string', default: '4' },
    width: { type: 'string', default: '128' },
    lr: { type: 'string', default: '3e-3' },
    corpus: { type: 'string', default: '/usr/share/games/fortunes/fortunes' },
    out: { type: 'string', default: 'checkpoints' },
  },
});
const [steps, batch, context] = [Number(args.steps), Number(args.batch), Number(args.context)];
if (!existsSync(args.corpus))
  throw new Error(`no corpus at ${args.corpus}: install Debian's fortunes-min (apt-get install fortunes-min)`);
// Fortunes are separated by lines holding one '%'.
const text = readFileSync(args.corpus, 'utf8').replace(/\n%\n/g, '\n\n');
const corpus = io.charCorpus(text);
console.log(`corpus: ${text.length} characters, ${corpus.vocab.length} distinct, from ${args.corpus}`);

const gpt = models.gpt2({
  vocabSize: corpus.vocab.length,
  nPositions: context,
  nEmbd: Number(args.width),
  nLayer: Number(args.layers),
  nHead: Number(args.heads),
});
const init = gpt.init(random.key(0), [batch, context]);
console.log(`GPT: ${models.paramCount(gpt, [1, context])} parameters`);
const opt = optim.adamw(optim.warmupCosineDecay(0, Number(args.lr), 50, steps, Number(args.lr) / 10), {
  weightDecay: 0.01,
});

const step = jit((p: unknown, s: optim.ChainState, x: NDArray, y: NDArray) => {
  const [loss, grads] = valueAndGrad((q: unknown) => {
    const logits = gpt.apply(q, init.state, x).y as NDArray;
    return nn.softmaxCrossEntropy(np.reshape(logits, [-1, corpus.vocab.length]), np.reshape(y, [-1]));
  })(p);
  const r = opt.update(grads, s, p);
  return { p: optim.applyUpdates(p, r.updates), s: r.state, loss };
});

const sample = (p: unknown, seed: number) => {
  const prompt = np.reshape(corpus.encode('\n'), [1, 1]);
  const ids = models.generate(gpt, p, prompt, { maxNewTokens: context - 1, temperature: 0.8, key: random.key(seed) });
  return corpus.decode(ids).trim();
};

const bar = new cliProgress.SingleBar(
  {
    format: 'step {value}/{total} [{bar}] | loss {loss} | ETA {eta_formatted}',
    noTTYOutput: true,
    notTTYSchedule: 2000,
  },
  cliProgress.Presets.shades_classic,
);
let params: unknown = init.params,
  state = opt.init(init.params);
const curve: [number, number][] = [];
let windowLoss = 0;
bar.start(steps, 0, { loss: '-' });
for (let i = 1; i <= steps; i++) {
  const b = io.sequenceBatch(random.foldIn(random.key(1), i), corpus.ids, batch, context);
  const r = step(params, state, b.inputs, b.targets);
  [params, state] = [r.p, r.s];
  windowLoss += r.loss.item();
  if (i % 25 === 0 || i === steps) {
    const n = i % 25 || 25;
    curve.push([i, windowLoss / n]);
    bar.update(i, { loss: (windowLoss / n).toFixed(3) });
    windowLoss = 0;
  } else bar.update(i);
  if (i % Math.max(1, Math.floor(steps / 3)) === 0 && i < steps) {
    bar.stop();
    console.log(`sample after ${i} steps:\n${sample(params, i)}\n`);
    bar.start(steps, i, { loss: curve.length ? curve.at(-1)![1].toFixed(3) : '-' });
  }
}
bar.stop();
console.log(`final loss: ${curve.at(-1)![1].toFixed(3)} (from ${curve[0][1].toFixed(3)})`);
console.log(`sample:\n${sample(params, 0)}`);
mkdirSync(args.out, { recursive: true });
const curveFile = join(args.out, 'char-gpt-loss.svg');
writeFileSync(
  curveFile,
  chart([
    {
      title: 'char GPT: training loss',
      xLabel: 'step',
      series: [{ label: '25-step mean', points: curve, color: '#1f77b4' }],
    },
  ]),
);
console.log(`loss curve: ${curveFile}`);
process.exit(0);
