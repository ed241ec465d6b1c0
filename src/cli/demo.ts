/**
 * `kiln demo`: the quick-start job. Trains the tiny GPT on the bundled sonnets (byte tokens) for a few hundred
 * steps with a progress bar, prints the loss falling and the throughput, saves a Hugging Face-style checkpoint,
 * and samples a continuation.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import cliProgress from 'cli-progress';
import { getBackendName } from '../backend/index.js';
import { saveModel } from '../io/checkpoint.js';
import { sample } from '../infer/generate.js';
import { Gpt } from '../models/gpt/model.js';
import { gptParamCount, gptTrainFlopsPerToken } from '../models/gpt/config.js';
import { Generator } from '../tensor/random.js';
import { ByteTokenizer } from '../tokenizers/byte.js';
import { trainLanguageModel } from '../train/lm.js';

export interface DemoOptions {
  steps: number;
  batch: number;
  seq: number;
  lr: number;
  preset: string;
  seed: number;
  out: string;
  prompt: string;
}

export const BUNDLED_TEXT = fileURLToPath(new URL('../../../data/sonnets.txt', import.meta.url));

export function runDemo(o: DemoOptions, log: (s: string) => void = console.log): { first: number; last: number } {
  const tok = new ByteTokenizer();
  const tokens = tok.encode(readFileSync(BUNDLED_TEXT, 'utf8'));
  const model = new Gpt(o.preset, { generator: new Generator(o.seed) });
  const c = model.config;
  log(`kiln demo: ${o.preset} (${(gptParamCount(c) / 1e6).toFixed(2)}M parameters, ${c.num_hidden_layers} layers, d=${c.hidden_size}) on ${tokens.length} byte tokens of Shakespeare's sonnets`);
  log(`backend: ${getBackendName()} · batch ${o.batch} × ${o.seq} tokens · ${o.steps} steps · AdamW lr ${o.lr}`);
  const bar = new cliProgress.SingleBar(
    { format: 'training |{bar}| {value}/{total} steps · loss {loss} · {tps} tok/s · eta {eta_formatted}', hideCursor: true, noTTYOutput: !process.stderr.isTTY, notTTYSchedule: 5000 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(o.steps, 0, { loss: '-', tps: '-' });
  const checkpoints: string[] = [];
  let ema = NaN;
  const { losses, tokensPerSecond } = trainLanguageModel(model, tokens, {
    steps: o.steps, batchSize: o.batch, seqLen: o.seq, lr: o.lr, seed: o.seed,
    onStep: (s) => {
      ema = Number.isNaN(ema) ? s.loss : 0.9 * ema + 0.1 * s.loss;
      bar.update(s.step + 1, { loss: ema.toFixed(3), tps: Math.round(s.tokens / s.seconds) });
      if (s.step === 0 || (s.step + 1) % Math.max(1, Math.floor(o.steps / 5)) === 0)
        checkpoints.push(`  step ${String(s.step + 1).padStart(4)}  loss ${ema.toFixed(3)}  lr ${s.lr.toExponential(2)}  |g| ${s.gradNorm.toFixed(2)}`);
    },
  });
  bar.stop();
  for (const line of checkpoints) log(line);
  const flops = gptTrainFlopsPerToken(c, o.seq) * tokensPerSecond;
  log(`throughput: ${Math.round(tokensPerSecond)} tokens/s (${(flops / 1e9).toFixed(1)} GFLOP/s of model FLOPs)`);
  const first = losses.slice(0, 10).reduce((a, b) => a + b, 0) / Math.min(10, losses.length);
  const last = losses.slice(-10).reduce((a, b) => a + b, 0) / Math.min(10, losses.length);
  log(`loss: ${first.toFixed(3)} (first 10 steps) → ${last.toFixed(3)} (last 10 steps); uniform guess is ${Math.log(256).toFixed(3)}`);
  saveModel(model, o.out, { model_type: 'kiln-gpt', architectures: ['Gpt'], ...c });
  log(`saved ${o.out}/model.safetensors and config.json`);
  model.eval();
  const cont = sample((ids) => model.forward(ids), tok.encode(o.prompt), { maxNewTokens: 160, contextLength: c.max_position_embeddings, temperature: 0.7, topK: 20, seed: o.seed });
  log(`sample: ${o.prompt}${tok.decode(cont)}`);
  model.dispose();
  return { first, last };
}
