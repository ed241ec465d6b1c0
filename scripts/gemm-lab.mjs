// The GEMM kernel lab driver.
//   node scripts/gemm-lab.mjs [args]        builds $TMPDIR/kiln-gemm-lab/gemm-lab from native/lab/gemm-lab.cc + the kernel sources and
//                                           runs it (args: see the top of gemm-lab.cc; env LAB_CXXFLAGS adds flags)
//   node scripts/gemm-lab.mjs addon [sizes=256,512,1024,2048] [threads=1,2] [rounds=3]
//                                           times the built addon's gemm() from JS (what Kiln actually calls) next
//                                           to its FMA peak, best over rounds (the machine is shared: repeat).
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);

function opt(name, def) {
  const a = args.find((x) => x.startsWith(`${name}=`));
  return a ? a.slice(name.length + 1).split(',').map(Number) : def;
}

if (args[0] === 'addon') {
  const addon = createRequire(import.meta.url)('../build/Release/kiln_native.node');
  const sizes = opt('sizes', [256, 512, 1024, 2048]);
  const threads = opt('threads', [1, 2]);
  const [rounds] = opt('rounds', [3]);
  const best = new Map();
  const peak = new Map();
  for (let r = 0; r < rounds; r++) {
    for (const t of threads) {
      addon.setNumThreads(t);
      peak.set(t, Math.max(peak.get(t) ?? 0, addon.peakGflops(t, 0.2)));
      for (const n of sizes) {
        const A = new Float32Array(n * n).map(() => Math.random() - 0.5);
        const B = new Float32Array(n * n).map(() => Math.random() - 0.5);
        const C = new Float32Array(n * n);
        const reps = Math.max(2, Math.min(20, Math.round(2e9 / (2 * n ** 3))));
        addon.gemm(1, false, false, n, n, n, 1, A, 0, n, 0, B, 0, n, 0, 0, C, 0, n, 0); // warm-up
        let bestS = Infinity;
        for (let i = 0; i < reps; i++) {
          const t0 = process.hrtime.bigint();
          addon.gemm(1, false, false, n, n, n, 1, A, 0, n, 0, B, 0, n, 0, 0, C, 0, n, 0);
          bestS = Math.min(bestS, Number(process.hrtime.bigint() - t0) / 1e9);
        }
        const key = `${n}/${t}`;
        best.set(key, Math.max(best.get(key) ?? 0, (2 * n ** 3) / bestS / 1e9));
      }
    }
  }
  console.log(`isa ${addon.isa()}`);
  for (const t of threads) {
    const row = sizes.map((n) => `n=${n}: ${best.get(`${n}/${t}`).toFixed(1)}`).join('  ');
    console.log(`threads=${t}  peak ${peak.get(t).toFixed(1)} GFLOP/s   gemm GFLOP/s  ${row}`);
  }
  process.exit(0);
}

const src = ['native/lab/gemm-lab.cc', 'native/gemm.cc', 'native/gemm-avx512.cc', 'native/gemm-avx2.cc',
  'native/gemm-scalar.cc', 'native/cpu.cc', 'native/thread-pool.cc', 'native/peak.cc'];
// Outside build/: `node-gyp rebuild` (run by anyone sharing the tree) wipes that folder.
const labDir = join(tmpdir(), 'kiln-gemm-lab');
mkdirSync(labDir, { recursive: true });
const exe = join(labDir, 'gemm-lab');
const extra = (process.env.LAB_CXXFLAGS ?? '').split(' ').filter(Boolean);
const cc = spawnSync('g++', ['-std=c++17', '-O3', '-pthread', ...extra, ...src, '-o', exe], { stdio: 'inherit' });
if (cc.status !== 0) process.exit(cc.status ?? 1);
const r = spawnSync(exe, args, { stdio: 'inherit' });
process.exit(r.status ?? 1);
