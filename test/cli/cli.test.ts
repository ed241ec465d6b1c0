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

test('kiln info prints exact accounting for presets and config files', () => {
  const r = spawnSync(process.execPath, [bin, 'info', 'deepseek-v3-671b', '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout) as Record<string, number>;
  assert.equal(info.params_total, 671_026_404_352);
  assert.equal(info.kv_cache_numbers_per_token_per_layer, 576);
  const g = JSON.parse(spawnSync(process.execPath, [bin, 'info', 'gpt-tiny', '--json'], { encoding: 'utf8' }).stdout) as Record<string, number>;
  assert.equal(g.params_total, 467_584);
  const bad = spawnSync(process.execPath, [bin, 'info', '/nonexistent/config.json'], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /neither a preset/);
});
