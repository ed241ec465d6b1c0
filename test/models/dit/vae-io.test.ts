/** Aquarius causal VAE save/load: bit-exact round trip, diffusers-style files, strict config and weights. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k from '../../../src/index.js';
import { CausalVae3d } from '../../../src/models/dit/vae.js';
import { loadVae, saveVae, VAE_WEIGHTS_FILE } from '../../../src/models/dit/vae-io.js';

const micro = { latent_channels: 2, block_out_channels: [4, 8, 8, 8], layers_per_block: 1, norm_num_groups: 2, scaling_factor: 0.5 };

test('saveVae/loadVae round trip is bit-exact (weights, config, decoded output)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-vae-'));
  try {
    const v = new CausalVae3d(micro, { generator: new k.Generator(5) });
    saveVae(v, dir);
    assert.ok(existsSync(join(dir, VAE_WEIGHTS_FILE)));
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    assert.equal(cfg.model_type, 'aquarius_causal_vae');
    assert.deepEqual(cfg.block_out_channels, [4, 8, 8, 8]);
    const w = loadVae(dir);
    assert.deepEqual(w.config, v.config);
    const a = v.stateDict();
    const b = w.stateDict();
    assert.equal(b.size, a.size);
    for (const [name, t] of a) assert.deepEqual(b.get(name)!.data(), t.data(), name);
    k.noGrad(() => {
      const x = k.randn([1, 3, 5, 16, 16], { generator: new k.Generator(6) });
      assert.deepEqual(w.decode(w.encode(x).mean).data(), v.decode(v.encode(x).mean).data());
    });
    v.dispose();
    w.dispose();
    // unknown config keys and mismatched weights are errors that name the problem
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, bogus_key: 1 }));
    assert.throws(() => loadVae(dir), (e: k.KilnError) => e.code === 'E_CONFIG' && /bogus_key/.test(e.message));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, latent_channels: 3 }));
    assert.throws(() => loadVae(dir), (e: k.KilnError) => e.code === 'E_CHECKPOINT');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
