/** The `kiln` binary as a user runs it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

test('kiln demo trains, reports falling loss and throughput, saves a checkpoint', () => {
  const out = mkdtempSync(join(tmpdir(), 'kiln-demo-'));
  try {
    const r = spawnSync(process.execPath, [bin, 'demo', '--steps', '30', '--batch', '4', '--seq', '32', '--out', out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const m = /loss: ([\d.]+) \(first 10 steps\) → ([\d.]+) \(last 10 steps\)/.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.ok(Number(m[2]) < Number(m[1]) - 0.5, `loss did not fall: ${m[1]} → ${m[2]}`);
    assert.match(r.stdout, /throughput: \d+ tokens\/s/);
    assert.ok(existsSync(join(out, 'model.safetensors')) && existsSync(join(out, 'config.json')));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('bad arguments give a clear error and a non-zero exit', () => {
  const r = spawnSync(process.execPath, [bin, 'demo', '--steps', 'many'], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--steps.*positive integer/);
  const p = spawnSync(process.execPath, [bin, 'demo', '--preset', 'nope', '--steps', '1'], { encoding: 'utf8' });
  assert.equal(p.status, 1);
  assert.match(p.stderr, /unknown GPT preset 'nope'.*\[E_CONFIG\]/);
});
