/**
 * `npm run bench`: runs the whole suite (src/bench/suite.ts), prints the table on stdout (progress on stderr) and
 * (then the DeepSeek-V3 rows of issue 3 with their targets) and writes the results as JSON to bench/results/latest.json and bench/results/<UTC timestamp>.json.
 * Options: --quick (tiny sizes, short runs), --sizes 256,512 (GEMM sizes), --threads 1,2, --out <dir>.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { toJson } from '../src/bench/json.js';
import { FULL_SIZES, QUICK_SIZES, runSuite } from '../src/bench/suite.js';
import { suiteTable } from '../src/bench/table.js';
import { deepseekSuiteLines } from '../src/bench/deepseek-table.js';
import { modelSuiteLines } from '../src/bench/models.js';

function list(v: string | undefined, fallback: number[], what: string): number[] {
  if (v === undefined) return fallback;
  const out = v.split(',').map((s) => Number(s.trim()));
  if (out.length === 0 || out.some((n) => !Number.isInteger(n) || n < 1)) {
    console.error(`bench: --${what} takes a comma-separated list of positive integers, got '${v}'`);
    process.exit(2);
  }
  return out;
}

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    sizes: { type: 'string' },
    threads: { type: 'string' },
    out: { type: 'string' },
  },
});
const quick = values.quick ?? false;
const results = await runSuite({
  quick,
  sizes: list(values.sizes, quick ? QUICK_SIZES : FULL_SIZES, 'sizes'),
  threads: list(values.threads, [1, 2], 'threads'),
});
console.log(suiteTable(results));
console.log(['', ...deepseekSuiteLines(results.deepseek)].join('\n'));
if (!('unavailable' in results.models)) console.log(['', ...(await modelSuiteLines(results.models))].join('\n'));
else console.log(`\n${results.models.unavailable}`);

// dist/bench/run.js → <repo>/bench/results
const outDir = values.out ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/results');
mkdirSync(outDir, { recursive: true });
const text = `${JSON.stringify(toJson(results), null, 2)}\n`;
const stamp = results.startedAt.replace(/[:.]/g, '-');
writeFileSync(path.join(outDir, 'latest.json'), text);
writeFileSync(path.join(outDir, `${stamp}${quick ? '-quick' : ''}.json`), text);
console.log(`\nwrote ${path.join(outDir, 'latest.json')} and ${stamp}${quick ? '-quick' : ''}.json`);
if (!results.checksPassed) process.exitCode = 1;
