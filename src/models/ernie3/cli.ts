/**
 * The ERNIE commands, wired into the `kiln` program by src/cli/main.ts through `registerErnieCommands(program)`:
 * - `kiln embed --model <dir> (--ids 1,2,3 | --text <s> [--pair <s>]) [--token-type-ids ...] [--task-type-ids ...]
 *   [--attention-mask ...] --out <file.safetensors> [--json]`: runs a HF ERNIE encoder (`model_type: ernie`) over one
 *   sequence and writes `last_hidden_state` [T, H] and `pooler_output` [H] (f32; the latter only when the checkpoint
 *   has a pooler). `--text` tokenizes with the model's own tokenizer (tokenizer.json or vocab.txt), which also
 *   supplies the token type ids of a pair.
 * (Parameter counts go through `kiln info <preset|dir>` once src/models/registry.ts lists `ernieFamily` and
 * `ernie3Family` from ./family.ts.)
 */
import { writeSafetensors, type RawTensor } from '../../io/safetensors.js';
import type { Command } from 'commander';
import { KilnError } from '../../errors.js';
import { noGrad } from '../../tensor/autograd.js';
import { fromArray } from '../../tensor/creation.js';
import { loadErnieTokenizer, loadPretrained } from './hf.js';

export interface EmbedOptions {
  model: string;
  ids?: string;
  text?: string;
  pair?: string;
  tokenTypeIds?: string;
  taskTypeIds?: string;
  attentionMask?: string;
  out: string;
  json?: boolean;
}

function parseIds(s: string, what: string): number[] {
  const xs = s.split(',').map((t) => t.trim()).filter((t) => t.length > 0).map(Number);
  if (xs.length === 0 || xs.some((x) => !Number.isInteger(x) || x < 0))
    throw new KilnError('E_ARG', `kiln embed: ${what} must be comma-separated non-negative integers, got '${s}'`);
  return xs;
}

export interface EmbedResult {
  tokens: number;
  hidden: number;
  pooler: boolean;
  out: string;
}

/** Runs the encoder over one sequence and writes the safetensors file; returns what it wrote. */
export function runEmbed(o: EmbedOptions): EmbedResult {
  if ((o.ids === undefined) === (o.text === undefined)) throw new KilnError('E_ARG', 'kiln embed: give exactly one of --ids 1,2,3 or --text <s>');
  let ids: number[];
  let tokenTypes: number[] | undefined;
  if (o.ids !== undefined) ids = parseIds(o.ids, '--ids');
  else {
    const enc = loadErnieTokenizer(o.model).encode(o.text!, { pair: o.pair });
    ids = enc.ids;
    tokenTypes = enc.typeIds;
  }
  const T = ids.length;
  const opt = (s: string | undefined, what: string) => {
    if (s === undefined) return undefined;
    const xs = parseIds(s, what);
    if (xs.length !== T) throw new KilnError('E_ARG', `kiln embed: ${what} has ${xs.length} entries but there are ${T} tokens`);
    return xs;
  };
  tokenTypes = opt(o.tokenTypeIds, '--token-type-ids') ?? tokenTypes;
  const taskTypes = opt(o.taskTypeIds, '--task-type-ids');
  const mask = opt(o.attentionMask, '--attention-mask');
  const model = loadPretrained(o.model).eval();
  try {
    const c = model.config;
    const bad = ids.find((i) => i >= c.vocab_size);
    if (bad !== undefined) throw new KilnError('E_ARG', `kiln embed: token id ${bad} is outside the vocabulary (vocab_size ${c.vocab_size})`);
    if (tokenTypes?.some((i) => i >= c.type_vocab_size)) throw new KilnError('E_ARG', `kiln embed: token type ids must be < type_vocab_size ${c.type_vocab_size}`);
    if (taskTypes?.some((i) => i >= c.task_type_vocab_size)) throw new KilnError('E_ARG', `kiln embed: task type ids must be < task_type_vocab_size ${c.task_type_vocab_size}`);
    const t = (xs: number[] | undefined) => (xs ? fromArray(Int32Array.from(xs), [1, T], { dtype: 'i32' }) : null);
    const res = noGrad(() => model.forward({ inputIds: t(ids)!, tokenTypeIds: t(tokenTypes), taskTypeIds: t(taskTypes), attentionMask: t(mask) }));
    const H = c.hidden_size;
    const tensors = new Map<string, RawTensor>();
    tensors.set('last_hidden_state', { dtype: 'f32', shape: [T, H], data: Float32Array.from(res.lastHiddenState.data() as Float32Array) });
    if (res.poolerOutput) tensors.set('pooler_output', { dtype: 'f32', shape: [H], data: Float32Array.from(res.poolerOutput.data() as Float32Array) });
    writeSafetensors(o.out, tensors, { format: 'pt' });
    return { tokens: T, hidden: H, pooler: res.poolerOutput !== null, out: o.out };
  } finally {
    model.dispose();
  }
}

export function registerErnieCommands(program: Command): void {
  program
    .command('embed')
    .description('run a Hugging Face ERNIE encoder (model_type: ernie) over one sequence; write last_hidden_state [T, H] and pooler_output [H]')
    .requiredOption('--model <dir>', 'HF checkpoint directory (config.json + safetensors)')
    .option('--ids <list>', 'token ids, comma-separated (e.g. 1,2,3)')
    .option('--text <s>', "text to tokenize with the model's tokenizer instead of --ids")
    .option('--pair <s>', 'a second sentence (with --text; token type 1)')
    .option('--token-type-ids <list>', 'segment ids, one per token (default 0)')
    .option('--task-type-ids <list>', 'task ids, one per token (models with use_task_id; default 0)')
    .option('--attention-mask <list>', '1 = attend, 0 = padding, one per token (default all 1)')
    .requiredOption('--out <file>', 'output .safetensors file')
    .option('--json', 'print a JSON summary')
    .action((o: EmbedOptions) => {
      const r = runEmbed(o);
      process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `wrote ${r.out}: last_hidden_state [${r.tokens}, ${r.hidden}]${r.pooler ? `, pooler_output [${r.hidden}]` : ' (no pooler in this checkpoint)'}\n`);
    });
}
