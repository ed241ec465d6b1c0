/** `kiln train lm`, `kiln generate` and `kiln logits` as a user runs them, on a micro DeepSeek-V3 and byte tokens. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSafetensors } from '../../src/io/safetensors.js';

const bin = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const kiln = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

test('kiln train lm (+ --resume bit-exact) → generate (plain, --mtp) → logits, with --json; --resume without a checkpoint fails clearly', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-dsv3-cli-'));
  try {
    const data = join(dir, 'text.txt');
    writeFileSync(data, 'In the beginning God created the heaven and the earth. '.repeat(40));
    const out = join(dir, 'run');
    const bad = kiln('train', 'lm', '--config', 'deepseek-v3-micro', '--data', data, '--steps', '4', '--out', out, '--resume');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /no training checkpoint under/);
    const t = kiln('train', 'lm', '--config', 'deepseek-v3-micro', '--data', data, '--steps', '6', '--batch', '2', '--seq', '16', '--out', out, '--checkpoint-every', '3', '--json');
    assert.equal(t.status, 0, t.stderr);
    const s = JSON.parse(t.stdout);
    assert.equal(s.steps, 6);
    assert.ok(Number.isFinite(s.first_loss) && s.tokens_per_s > 0 && s.max_vio >= 0);
    assert.ok(existsSync(join(out, 'model.safetensors')) && existsSync(join(out, 'optimizer.safetensors')) && existsSync(join(out, 'checkpoint-3', 'trainer_state.json')));
    // as if the run had died after step 3: --resume picks checkpoint-3 and ends with the same bytes
    const straight = readFileSync(join(out, 'model.safetensors'));
    rmSync(join(out, 'trainer_state.json'));
    const r = kiln('train', 'lm', '--config', 'deepseek-v3-micro', '--data', data, '--steps', '6', '--batch', '2', '--seq', '16', '--out', out, '--checkpoint-every', '3', '--json', '--resume');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).start_step, 3);
    assert.ok(readFileSync(join(out, 'model.safetensors')).equals(straight), 'resumed weights differ from the straight run');

    const g = kiln('generate', '--model', out, '--prompt', 'In the', '--max-new-tokens', '8', '--greedy', '--json');
    assert.equal(g.status, 0, g.stderr);
    const gj = JSON.parse(g.stdout);
    assert.equal(gj.ids.length, 8);
    assert.equal(typeof gj.text, 'string');
    const m = kiln('generate', '--model', out, '--ids', gj.prompt_ids.join(','), '--max-new-tokens', '8', '--mtp', '--json');
    assert.equal(m.status, 0, m.stderr);
    const mj = JSON.parse(m.stdout);
    assert.deepEqual(mj.ids, gj.ids);
    assert.equal(mj.mtp.identical_to_greedy, true);
    assert.ok(mj.mtp.acceptance_rate >= 0 && mj.mtp.acceptance_rate <= 1 && mj.mtp.speedup > 0);

    const lf = join(dir, 'logits.safetensors');
    const l = kiln('logits', '--model', out, '--ids', '1,2,3', '--out', lf);
    assert.equal(l.status, 0, l.stderr);
    const lt = readSafetensors(lf).tensors.get('logits')!;
    assert.deepEqual(lt.shape, [3, 256]);
    assert.equal(lt.dtype, 'f32');

    const e = kiln('generate', '--model', out, '--max-new-tokens', '4');
    assert.notEqual(e.status, 0);
    assert.match(e.stderr, /exactly one of --prompt/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
