// Trains data/kjv/tokenizer.json: byte-level BPE, vocabulary 4096, DeepSeek-V3's pre-tokenizer, one special token
// <｜end▁of▁sentence｜> (id 0) as in DeepSeek's tokenizer. Run after `npx tsc -p .`:  node data/kjv/train-tokenizer.mjs
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { trainBpe } from '../../dist/src/tokenizers/index.js';

const here = (f) => fileURLToPath(new URL(f, import.meta.url));
const lines = readFileSync(here('./kjv-excerpt.txt'), 'utf8').split(/(?<=\n)/);
const t0 = performance.now();
const r = trainBpe(lines, { vocabSize: 4096, specialTokens: ['<｜end▁of▁sentence｜>'], preTokenizer: 'deepseek-v3', out: here('./tokenizer.json') });
console.log(`${r.merges} merges over ${r.words} distinct pre-tokens in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
