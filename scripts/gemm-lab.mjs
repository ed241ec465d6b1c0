// Builds and runs the GEMM kernel lab (native/lab/gemm-lab.cc) outside Node: `node scripts/gemm-lab.mjs [args]`.
// Env LAB_CXXFLAGS adds compiler flags. Args are passed through (sizes=256,1024 threads=1,2 isa=avx2 mc=.. kc=.. nc=.. reps=5 ta=1 tb=1).
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';

const src = ['native/lab/gemm-lab.cc', 'native/gemm.cc', 'native/gemm-avx512.cc', 'native/gemm-avx2.cc',
  'native/gemm-scalar.cc', 'native/cpu.cc', 'native/thread-pool.cc', 'native/peak.cc'];
mkdirSync('build', { recursive: true });
// LAB_CXXFLAGS adds compiler flags for experiments, e.g. LAB_CXXFLAGS='-DKILN_A_PREFETCH="1024"'.
const extra = (process.env.LAB_CXXFLAGS ?? '').split(' ').filter(Boolean);
const cc = spawnSync('g++', ['-std=c++17', '-O3', '-pthread', ...extra, ...src, '-o', 'build/gemm-lab'], { stdio: 'inherit' });
if (cc.status !== 0) process.exit(cc.status ?? 1);
const r = spawnSync('build/gemm-lab', process.argv.slice(2), { stdio: 'inherit' });
process.exit(r.status ?? 1);
