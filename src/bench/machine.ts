/**
 * The machine a benchmark ran on: CPU model, the SIMD instruction sets the CPU reports, hardware threads, Node and
 * Kiln's active backend (with the ISA the native kernels dispatch on when the addon is loaded), and the load
 * average (how busy the machine was: a shared machine makes every number noisier). Printed above the
 * table and stored in the JSON so numbers are never read without their machine.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { getBackendName } from '../backend/index.js';
import { nativeStatus } from './native-probe.js';

export interface MachineInfo {
  cpu: string;
  /** SIMD sets the CPU reports, widest first, e.g. ["avx512f", "avx2", "fma"]. */
  cpuIsa: string[];
  /** Hardware threads available to this process. */
  threads: number;
  platform: string;
  node: string;
  kilnBackend: string;
  /** ISA the native kernels dispatch on, or null when the addon is absent. */
  nativeIsa: string | null;
  nativeNote: string | null;
  /** 1-minute load average when this was read: above ~0 on an idle machine means others compete for the cores. */
  loadAvg1m: number;
}

function cpuFlags(): Set<string> {
  try {
    const text = readFileSync('/proc/cpuinfo', 'utf8');
    const line = text.split('\n').find((l) => l.startsWith('flags'));
    return new Set(line ? line.split(':')[1].trim().split(/\s+/) : []);
  } catch {
    return new Set();
  }
}

export async function machineInfo(): Promise<MachineInfo> {
  const flags = cpuFlags();
  const isa = ['avx512f', 'avx512_fp16', 'avx512_bf16', 'amx_tile', 'avx2', 'fma', 'neon', 'asimd'].filter((f) => flags.has(f));
  const native = await nativeStatus();
  let nativeIsa: string | null = null;
  if (native.addon) {
    try {
      nativeIsa = native.addon.isa();
    } catch {
      nativeIsa = null;
    }
  }
  const cpus = os.cpus();
  return {
    cpu: cpus.length > 0 ? cpus[0].model.trim() : 'unknown',
    cpuIsa: isa,
    threads: typeof os.availableParallelism === 'function' ? os.availableParallelism() : cpus.length,
    platform: `${process.platform}-${process.arch}`,
    node: process.version,
    kilnBackend: getBackendName(),
    nativeIsa,
    nativeNote: native.reason,
    loadAvg1m: os.loadavg()[0],
  };
}
