// Runs every compiled test file under dist/test with Node's built-in test runner.
// Slow suites live under dist/test/slow and run only with KILN_SLOW_TESTS=1.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'slow' && !process.env.KILN_SLOW_TESTS ? [] : walk(p);
    return p.endsWith('.test.js') ? [p] : [];
  });
}
const filter = process.argv.slice(2);
const files = walk('dist/test').filter((f) => filter.length === 0 || filter.some((s) => f.includes(s))).sort();
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
