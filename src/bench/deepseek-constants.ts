/**
 * The DeepSeek-V3 benchmark config and targets of issue 3 ("Targets"), in a module of their own so the table and
 * the CLI can name them without loading the model layers.
 */
export const DEEPSEEK_BENCH_PRESET = 'deepseek-v3-bench';
export const DEEPSEEK_TARGETS = { trainMfu: 0.4, decodeTokensPerSecond: 1000 } as const;
