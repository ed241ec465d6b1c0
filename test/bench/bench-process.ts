/**
 * Runs `kiln bench ...` in its own process (through `registerBenchCommand`, as src/cli/main.ts wires it) and parses
 * the JSON of its last stdout line; plus the positive-and-finite check every bench test applies to its numbers.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import assert from 'node:assert/strict';

// dist/test/bench/ → repository root
export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const cliModule = pathToFileURL(path.join(root, 'dist/src/bench/cli.js')).href;
const harness = [
  "import { Command } from 'commander';",
  `const { registerBenchCommand } = await import(${JSON.stringify(cliModule)});`,
  "const program = new Command('kiln');",
  'registerBenchCommand(program);',
  "await program.parseAsync(process.argv.slice(1), { from: 'user' }); // node -e: argv = [node, ...args]",
].join('\n');

export interface BenchRun {
  status: number | null;
  json: Record<string, unknown>;
  stderr: string;
}

/** The raw process result of `kiln bench ...args`. */
export function benchProcess(...args: string[]): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, ['--input-type=module', '-e', harness, 'bench', ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
}

export function kilnBench(...args: string[]): BenchRun {
  const r = benchProcess(...args);
  const lines = r.stdout.trim().split('\n');
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
  } catch {
    assert.fail(`kiln bench ${args.join(' ')} printed no JSON (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  return { status: r.status, json, stderr: r.stderr };
}

export function positive(v: unknown, what: string): number {
  assert.equal(typeof v, 'number', `${what} should be a number, got ${JSON.stringify(v)}`);
  assert.ok(Number.isFinite(v as number) && (v as number) > 0, `${what} should be positive and finite, got ${v}`);
  return v as number;
}
