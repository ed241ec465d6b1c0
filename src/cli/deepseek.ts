/**
 * DeepSeek-V3 commands, wired into `kiln` by src/cli/main.ts through `registerDeepseekCommands(program)`:
 *   kiln train lm --config <preset|config.json> --data <text> [--tokenizer <tokenizer.json>] --steps N --out <dir>
 *                 [--resume] [--precision fp32|bf16|fp8] [--batch B] [--seq T] [--lr] [--checkpoint-every K] [--json]
 *     trains with src/train/deepseek-v3.ts (progress bar on stderr; a log line every tenth of the run; --json: one
 *     summary object); the output directory is a HF checkpoint (+ optimizer state, + tokenizer.json when given).
 *   kiln generate --model <dir> (--prompt <text> | --ids 1,2,3) --max-new-tokens N [--greedy] [--mtp | --mtp-sample]
 *     [--draft-tokens k] [--json]
 *     latent-cache generation (src/infer/deepseek-v3.ts); --mtp decodes greedily with MTP speculation (k drafts per
 *     round verified in one forward) and also runs plain greedy decoding (each twice, alternating; best times) to
 *     measure the speed-up and confirm identical outputs; --mtp-sample does the same for speculative sampling.
 *   kiln logits --model <dir> --ids 1,2,3 --out <file.safetensors>   writes tensor `logits` [T, vocab] f32.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { finiteNumber, positiveInt } from './options.js';
import cliProgress from 'cli-progress';
import { KilnError } from '../errors.js';
import { resolveModel } from '../models/registry.js';
import { deepseekV3Config, paramCounts } from '../models/deepseek-v3/config.js';
import { DeepseekV3ForCausalLM } from '../models/deepseek-v3/model.js';
import { loadPretrained } from '../models/deepseek-v3/hf.js';
import { writeSafetensors } from '../io/safetensors.js';
import { noGrad } from '../tensor/autograd.js';
import { fromArray } from '../tensor/creation.js';
import { Generator } from '../tensor/random.js';
import { ByteTokenizer } from '../tokenizers/byte.js';
import { loadTokenizer, type Tokenizer } from '../tokenizers/tokenizer.js';
import { generate, generateSpeculative, type GenerateResult, type SpeculativeResult } from '../infer/deepseek-v3.js';
import { latestCheckpoint, loadTrainingCheckpoint, trainDeepseekV3, type DeepseekStepLog, type ResumePoint } from '../train/deepseek-v3.js';
import type { Precision } from '../train/precision/index.js';

const EOS = '<｜end▁of▁sentence｜>';

function precision(v: string): Precision {
  if (v !== 'fp32' && v !== 'bf16' && v !== 'fp8') throw new InvalidArgumentError('expected fp32, bf16 or fp8');
  return v;
}
function idList(v: string): Int32Array {
  const ids = v.split(',').map((s) => Number(s.trim()));
  if (ids.length === 0 || ids.some((n) => !Number.isInteger(n) || n < 0)) throw new InvalidArgumentError('expected comma-separated token ids, e.g. 1,2,3');
  return Int32Array.from(ids);
}

interface TextCodec {
  encode(text: string): Int32Array;
  decode(ids: ArrayLike<number>): string;
}
const codecOf = (tok: Tokenizer): TextCodec => ({ encode: (t) => Int32Array.from(tok.encodeIds(t)), decode: (ids) => tok.decode(ids) });

interface TrainOpts {
  config: string;
  data: string;
  tokenizer?: string;
  steps: number;
  out: string;
  resume?: boolean;
  precision: Precision;
  batch: number;
  seq: number;
  lr: number;
  seed: number;
  checkpointEvery?: number;
  gamma: number;
  alpha: number;
  json?: boolean;
}

export function runTrainLm(o: TrainOpts, log: (s: string) => void = console.log): void {
  let text: string;
  try {
    text = readFileSync(o.data, 'utf8');
  } catch (e) {
    throw new KilnError('E_IO', `kiln train lm: cannot read --data ${o.data}: ${(e as Error).message}`, { cause: e });
  }
  const tok = o.tokenizer ? loadTokenizer(o.tokenizer) : null;
  const t0 = performance.now();
  const tokens = tok ? Int32Array.from(tok.encodeIds(text)) : new ByteTokenizer().encode(text);
  const tokSeconds = (performance.now() - t0) / 1000;
  let model: DeepseekV3ForCausalLM;
  let resume: ResumePoint | undefined;
  if (o.resume) {
    const dir = latestCheckpoint(o.out);
    if (!dir) throw new KilnError('E_CHECKPOINT', `kiln train lm --resume: no training checkpoint under ${o.out}; run without --resume first`);
    resume = loadTrainingCheckpoint(dir);
    model = resume.model;
    if (!o.json) log(`resuming from ${dir} at step ${resume.state.step}`);
  } else {
    const { family, config } = resolveModel(o.config);
    if (family.modelType !== 'deepseek_v3')
      throw new KilnError('E_CONFIG', `kiln train lm: '${o.config}' is a ${family.modelType} model; this command trains DeepSeek-V3 configs (for the GPT demo use kiln demo)`);
    const base = deepseekV3Config(config);
    const vocab = tok ? tok.idLimit : 256;
    const eos = tok?.tokenToId(EOS) ?? null;
    model = new DeepseekV3ForCausalLM({ ...base, vocab_size: vocab, eos_token_id: eos, bos_token_id: null }, { generator: new Generator(o.seed) });
  }
  const c = model.config;
  for (const id of tokens.subarray(0, 4096))
    if (id >= c.vocab_size) throw new KilnError('E_ARG', `kiln train lm: token id ${id} ≥ the model's vocab_size ${c.vocab_size}; pass the tokenizer the model was built with`);
  if (o.tokenizer) {
    mkdirSync(o.out, { recursive: true });
    copyFileSync(o.tokenizer, join(o.out, 'tokenizer.json'));
  }
  const pc = paramCounts(c);
  if (!o.json) {
    log(`kiln train lm: DeepSeek-V3 ${o.config} (${(pc.params_total / 1e6).toFixed(2)}M parameters + MTP, ${c.num_hidden_layers} layers, d=${c.hidden_size}, ${c.n_routed_experts} experts, vocab ${c.vocab_size})`);
    log(`data: ${o.data} → ${tokens.length.toLocaleString('en-US')} tokens in ${tokSeconds.toFixed(1)} s · batch ${o.batch} × ${o.seq} · ${o.steps} steps · peak lr ${o.lr} · precision ${o.precision}`);
  }
  const bar = o.json ? null : new cliProgress.SingleBar(
    { stream: process.stderr, format: 'training |{bar}| {value}/{total} steps · loss {loss} · {tps} tok/s · eta {eta_formatted}', hideCursor: true, noTTYOutput: !process.stderr.isTTY, notTTYSchedule: 10000 },
    cliProgress.Presets.shades_classic,
  );
  const start = resume?.state.step ?? 0;
  bar?.start(o.steps, start, { loss: '-', tps: '-' });
  const every = Math.max(1, Math.floor(o.steps / 10));
  const lines: string[] = [];
  const fmt = (s: DeepseekStepLog) =>
    `  step ${String(s.step).padStart(5)}  loss ${s.loss.toFixed(3)}  main ${s.main.toFixed(3)}  mtp ${s.mtp?.toFixed(3) ?? '-'}  bal ${s.balance?.toExponential(2) ?? '-'}` +
    `  MaxVio ${s.maxVio.toFixed(3)}  lr ${s.lr.toExponential(2)}  |g| ${s.gradNorm.toFixed(2)}  ${Math.round(s.tokensPerSecond)} tok/s`;
  let ema = NaN;
  const r = trainDeepseekV3(model, tokens, {
    steps: o.steps, batchSize: o.batch, seqLen: o.seq, lr: o.lr, seed: o.seed, out: o.out, checkpointEvery: o.checkpointEvery,
    gamma: o.gamma, balanceAlpha: o.alpha, precision: o.precision,
    onStep: (s) => {
      ema = Number.isNaN(ema) ? s.main : 0.9 * ema + 0.1 * s.main;
      bar?.update(s.step, { loss: ema.toFixed(3), tps: Math.round(s.tokensPerSecond) });
      if (o.tokenizer && o.checkpointEvery && s.step % o.checkpointEvery === 0 && s.step < o.steps) {
        // the trainer writes checkpoint-<step> right after this call; give it the tokenizer too
        const dir = join(o.out, `checkpoint-${s.step}`);
        mkdirSync(dir, { recursive: true });
        copyFileSync(o.tokenizer, join(dir, 'tokenizer.json'));
      }
      if (s.step === start + 1 || s.step % every === 0 || s.step === o.steps) {
        // the loop is synchronous, so a bar drawn on a timer (no TTY) never redraws: log as we go there instead
        if (bar && !process.stderr.isTTY) log(fmt(s));
        else lines.push(fmt(s));
      }
    },
  }, resume);
  bar?.stop();
  const logs = r.logs;
  const avg = (xs: DeepseekStepLog[]) => xs.reduce((a, s) => a + s.main, 0) / Math.max(1, xs.length);
  const first = avg(logs.slice(0, 10));
  const last = avg(logs.slice(-10));
  const lastLog = logs[logs.length - 1];
  if (o.json) {
    console.log(JSON.stringify({
      steps: o.steps, start_step: start, first_loss: first, last_loss: last, tokens_per_s: r.tokensPerSecond, max_vio: lastLog?.maxVio ?? null,
      expert_load: lastLog?.load ?? null, out: resolve(o.out), curve: logs.filter((s) => s.step % every === 0).map((s) => ({ step: s.step, loss: s.loss, main: s.main, mtp: s.mtp, max_vio: s.maxVio })),
    }));
    return;
  }
  for (const l of lines) log(l);
  if (lastLog) log(`per-expert load at the last step (layer ${c.first_k_dense_replace}): ${lastLog.load[0]?.join(' ') ?? '-'}`);
  log(`main loss: ${first.toFixed(3)} (first 10 steps) → ${last.toFixed(3)} (last 10 steps); uniform guess is ${Math.log(c.vocab_size).toFixed(3)}`);
  log(`throughput: ${Math.round(r.tokensPerSecond)} tokens/s · saved ${o.out} (HF layout, optimizer state${o.tokenizer ? ', tokenizer.json' : ''})`);
  model.dispose();
}

interface GenOpts {
  model: string;
  prompt?: string;
  ids?: Int32Array;
  maxNewTokens: number;
  greedy?: boolean;
  mtp?: boolean;
  mtpSample?: boolean;
  draftTokens?: number;
  temperature: number;
  topK?: number;
  topP?: number;
  seed: number;
  json?: boolean;
}

function codecFor(dir: string, vocab: number): TextCodec | null {
  const f = join(dir, 'tokenizer.json');
  if (existsSync(f)) return codecOf(loadTokenizer(f));
  return vocab === 256 ? new ByteTokenizer() : null;
}

export function runGenerate(o: GenOpts, log: (s: string) => void = console.log): void {
  if ((o.prompt === undefined) === (o.ids === undefined)) throw new KilnError('E_ARG', 'kiln generate: give exactly one of --prompt <text> or --ids 1,2,3');
  const model = loadPretrained(o.model);
  model.eval();
  const codec = codecFor(o.model, model.config.vocab_size);
  let prompt: Int32Array;
  if (o.prompt !== undefined) {
    if (!codec) throw new KilnError('E_ARG', `kiln generate: ${o.model} has no tokenizer.json, so --prompt cannot be encoded; pass --ids instead`);
    prompt = codec.encode(o.prompt);
  } else prompt = o.ids!;
  const eosTokenId = model.config.eos_token_id;
  if (o.mtpSample && o.greedy) throw new KilnError('E_ARG', 'kiln generate: --mtp-sample samples; drop --greedy (or use --mtp for greedy speculative decoding)');
  const mtpOn = o.mtp || o.mtpSample;
  // --mtp alone decodes greedily (as before); --mtp-sample runs speculative sampling with the sampling flags
  const greedy = !!o.greedy || (!!o.mtp && !o.mtpSample);
  const sampling = { greedy, temperature: o.temperature, topK: o.topK, topP: o.topP, seed: o.seed };
  let res: GenerateResult;
  let mtp: Record<string, number | boolean | string> | null = null;
  if (mtpOn) {
    // alternate the two decoders twice and keep the best time of each (the first run of either warms the JIT and pools)
    const runs: [SpeculativeResult, GenerateResult][] = [];
    for (let i = 0; i < 2; i++)
      runs.push([
        generateSpeculative(model, prompt, { maxNewTokens: o.maxNewTokens, eosTokenId, draftTokens: o.draftTokens, ...sampling }),
        generate(model, prompt, { maxNewTokens: o.maxNewTokens, eosTokenId, ...sampling }),
      ]);
    const spec = runs.map((r) => r[0]).reduce((a, b) => (b.seconds < a.seconds ? b : a));
    const plain = runs.map((r) => r[1]).reduce((a, b) => (b.seconds < a.seconds ? b : a));
    const decodeGreedy = greedy || o.temperature <= 0;
    res = spec;
    mtp = {
      mode: decodeGreedy ? 'greedy' : 'speculative sampling', draft_tokens: o.draftTokens ?? 1,
      acceptance_rate: spec.acceptanceRate, drafted: spec.drafted, accepted: spec.accepted, tokens_per_forward: spec.tokensPerForward,
      plain_tokens_per_s: plain.tokensPerSecond, speedup: spec.tokensPerSecond / plain.tokensPerSecond,
    };
    if (decodeGreedy) mtp.identical_to_greedy = plain.ids.length === spec.ids.length && plain.ids.every((v, i) => v === spec.ids[i]);
  } else res = generate(model, prompt, { maxNewTokens: o.maxNewTokens, eosTokenId, ...sampling });
  const text = codec ? codec.decode(res.ids) : null;
  model.dispose();
  if (o.json) {
    console.log(JSON.stringify({ ids: Array.from(res.ids), text, prompt_ids: Array.from(prompt), tokens_per_s: res.tokensPerSecond, seconds: res.seconds, greedy: !!greedy, mtp }));
    return;
  }
  log(text !== null ? `${o.prompt ?? codec!.decode(prompt)}${text}` : Array.from(res.ids).join(','));
  log(`${res.ids.length} tokens in ${res.seconds.toFixed(2)} s (${Math.round(res.tokensPerSecond)} tokens/s${greedy ? ', greedy' : ''})`);
  if (mtp)
    log(`MTP ${mtp.mode} (${mtp.draft_tokens} draft token(s) per round): acceptance ${(100 * (mtp.acceptance_rate as number)).toFixed(1)} % (${mtp.accepted}/${mtp.drafted}), ` +
      `${(mtp.tokens_per_forward as number).toFixed(2)} tokens per main forward, wall-clock speed-up ${(mtp.speedup as number).toFixed(2)}× over plain decoding ` +
      `(${Math.round(mtp.plain_tokens_per_s as number)} tokens/s)` +
      (mtp.identical_to_greedy === undefined ? '; lossless by the accept/reject rule (same output distribution)' : `; output identical to greedy: ${mtp.identical_to_greedy}`));
}

export function runLogits(o: { model: string; ids: Int32Array; out: string }, log: (s: string) => void = console.log): void {
  const model = loadPretrained(o.model);
  model.eval();
  const V = model.config.vocab_size;
  for (const id of o.ids) if (id >= V) throw new KilnError('E_ARG', `kiln logits: id ${id} is outside the vocabulary [0, ${V})`);
  const T = o.ids.length;
  const data = noGrad(() => (model.forward(fromArray(o.ids, [1, T]), { mtp: false, balance: false }).logits.data() as Float32Array).slice());
  writeSafetensors(o.out, new Map([['logits', { dtype: 'f32', shape: [T, V], data }]]), { format: 'pt' });
  model.dispose();
  log(`wrote ${o.out}: logits [${T}, ${V}] f32`);
}

export function registerDeepseekCommands(program: Command, train: Command): void {
  train
    .command('lm')
    .description('train a DeepSeek-V3 language model on a text file (MTP, aux-loss-free balancing, report schedules)')
    .requiredOption('--config <preset|config.json>', 'a DeepSeek-V3 preset (e.g. deepseek-v3-tiny) or a config.json')
    .requiredOption('--data <text>', 'UTF-8 text file to train on')
    .option('--tokenizer <tokenizer.json>', 'HF tokenizer.json (default: bytes, vocab 256); sets vocab_size and is copied into --out')
    .requiredOption('--steps <n>', 'total optimizer steps', positiveInt)
    .requiredOption('--out <dir>', 'output directory (HF checkpoint + optimizer state)')
    .option('--resume', 'continue from the latest training checkpoint under --out (bit-exact)')
    .option('--precision <p>', 'fp32 | bf16 | fp8 (simulated, every Linear but the head)', precision, 'fp32' as Precision)
    .option('--batch <n>', 'sequences per step', positiveInt, 8)
    .option('--seq <n>', 'tokens per sequence', positiveInt, 64)
    .option('--lr <lr>', 'peak learning rate', finiteNumber, 3e-3)
    .option('--seed <n>', 'random seed', (v) => Number(v), 0)
    .option('--checkpoint-every <k>', 'write <out>/checkpoint-<step> every k steps', positiveInt)
    .option('--gamma <g>', 'bias update speed of aux-loss-free balancing', finiteNumber, 0.001)
    .option('--alpha <a>', 'sequence-wise balance loss weight', finiteNumber, 1e-4)
    .option('--json', 'print one JSON summary instead of the log')
    .action((o: TrainOpts) => runTrainLm(o));

  program
    .command('generate')
    .description('generate with a DeepSeek-V3 checkpoint over the latent KV cache (optionally MTP speculative decoding)')
    .requiredOption('--model <dir>', 'checkpoint directory (config.json, safetensors, optional tokenizer.json)')
    .option('--prompt <text>', 'prompt text (needs the checkpoint tokenizer.json)')
    .option('--ids <ids>', 'prompt token ids, comma-separated', idList)
    .option('--max-new-tokens <n>', 'tokens to generate', positiveInt, 64)
    .option('--greedy', 'argmax decoding')
    .option('--mtp', 'MTP speculative decoding (greedy, lossless: identical output); reports acceptance and speed-up over plain greedy')
    .option('--mtp-sample', 'MTP speculative sampling with --temperature/--top-k/--top-p/--seed (lossless: the same output distribution)')
    .option('--draft-tokens <k>', 'with --mtp / --mtp-sample: tokens drafted per round, all verified in one forward', positiveInt, 1)
    .option('--temperature <t>', 'sampling temperature', finiteNumber, 0.8)
    .option('--top-k <k>', 'sample among the k most likely tokens', positiveInt)
    .option('--top-p <p>', 'nucleus sampling threshold', finiteNumber)
    .option('--seed <n>', 'sampling seed', (v) => Number(v), 0)
    .option('--json', 'print one JSON object')
    .action((o: GenOpts) => runGenerate(o));

  program
    .command('logits')
    .description('write the logits of a DeepSeek-V3 checkpoint for some ids as safetensors (tensor `logits` [T, vocab] f32)')
    .requiredOption('--model <dir>', 'checkpoint directory')
    .requiredOption('--ids <ids>', 'token ids, comma-separated', idList)
    .requiredOption('--out <file>', 'output .safetensors file')
    .action((o: { model: string; ids: Int32Array; out: string }) => runLogits(o));
}
