// Measures the machine's fp32 FMA peak on the active ISA (see peak.cc).
#pragma once

namespace kiln {

// Runs a kernel of independent FMA chains on `threads` pool threads for about `seconds` and returns GFLOP/s
// (2 flops per FMA lane) summed over the threads. The work between clock reads is calibrated to ~1 ms.
double peakGflops(int threads, double seconds);

}  // namespace kiln
