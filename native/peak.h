// Measures the machine's fp32 FMA peak on the active ISA (see peak.cc).
#pragma once

namespace kiln {

// Runs a kernel of independent FMA chains on `threads` pool threads (capped at numThreads()) for about `seconds`
// and returns GFLOP/s (2 flops per FMA lane): each thread's best ~4 ms window, summed over the threads, so time
// taken by other processes on a shared machine does not count against the peak.
double peakGflops(int threads, double seconds);

}  // namespace kiln
