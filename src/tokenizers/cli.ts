/**
 * `kiln tokenize --tokenizer <tokenizer.json|vocab.txt|dir> (--text <s> | --file <f>) [--pair <s>] [--json]
 * [--no-special-tokens]`:
 * encodes the text and prints the ids and tokens (with --json: one object with `ids`, `tokens`, `offsets`,
 * `type_ids`, `count`, `bytes`, `seconds`, `mb_per_s` and the round-trip `decoded` text). Large inputs (over 1 MB) use the
 * ids-only fast path and show a progress bar on stderr unless --json.
 * Wired into the `kiln` program by src/cli/main.ts through `registerTokenizeCommand(program)`.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { KilnError } from '../errors.js';
import { loadTokenizer } from './tokenizer.js';

interface Opts {
  tokenizer: string;
  text?: string;
  file?: string;
  pair?: string;
  json?: boolean;
  specialTokens: boolean;
}

const FAST_ABOVE = 1_000_000;

export function registerTokenizeCommand(program: Command): void {
  program
    .command('tokenize')
    .description('encode text with a Hugging Face tokenizer.json (or a WordPiece vocab.txt) and print the ids')
    .requiredOption('--tokenizer <path>', 'tokenizer.json, or a BERT/ERNIE vocab.txt')
    .option('--text <s>', 'the text to encode')
    .option('--file <f>', 'read the text from this file (UTF-8)')
    .option('--pair <s>', 'a second sequence (sentence pair; type id 1)')
    .option('--json', 'print one JSON object')
    .option('--no-special-tokens', "don't add the post-processor's special tokens (BOS, [CLS]/[SEP], ...)")
    .action((o: Opts) => runTokenize(o));
}

export function runTokenize(o: Opts): void {
  if ((o.text === undefined) === (o.file === undefined)) {
    throw new KilnError('E_ARG', 'kiln tokenize: give exactly one of --text <s> or --file <f>');
  }
  let text: string;
  if (o.file !== undefined) {
    try {
      text = readFileSync(o.file, 'utf8');
    } catch (e) {
      throw new KilnError('E_IO', `kiln tokenize: cannot read --file ${o.file}: ${(e as Error).message}`, { cause: e });
    }
  } else text = o.text!;
  const tok = loadTokenizer(o.tokenizer);
  const bytes = Buffer.byteLength(text);
  const big = text.length > FAST_ABOVE;
  const bar = big && !o.json ? new cliProgress.SingleBar({ stream: process.stderr, format: 'tokenizing [{bar}] {percentage}% {value}/{total} chars' }, cliProgress.Presets.shades_classic) : null;
  bar?.start(text.length, 0);
  const t0 = performance.now();
  const opts = { addSpecialTokens: o.specialTokens, pair: o.pair, onProgress: bar ? (done: number) => bar.update(done) : undefined };
  const enc = big ? null : tok.encode(text, opts);
  const ids = enc ? enc.ids : tok.encodeIds(text, opts);
  const seconds = (performance.now() - t0) / 1000;
  bar?.stop();
  const mbPerS = seconds > 0 ? bytes / 1e6 / seconds : null;
  if (o.json) {
    const out: Record<string, unknown> = { count: ids.length, bytes, seconds, mb_per_s: mbPerS, ids };
    if (enc) {
      out.tokens = enc.tokens;
      out.offsets = enc.offsets;
      out.type_ids = enc.typeIds;
    }
    out.decoded = tok.decode(ids);
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return;
  }
  const lines = [`${ids.length} tokens from ${bytes} bytes in ${(seconds * 1000).toFixed(1)} ms${mbPerS && bytes >= 100_000 ? ` (${mbPerS.toFixed(2)} MB/s)` : ''}`];
  lines.push(`ids: ${ids.length > 2000 ? `${ids.slice(0, 2000).join(' ')} ... (${ids.length - 2000} more)` : ids.join(' ')}`);
  if (enc && enc.tokens.length <= 2000) lines.push(`tokens: ${enc.tokens.map((t) => JSON.stringify(t)).join(' ')}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}
