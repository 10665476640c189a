// How many items the drain's next batch claims: as many as the time left holds at the slowest rate
// (ms per item, claim to settle) seen in this run. The first batch has no rate yet: it takes the size
// the previous run of the chain found to fit (DrainSummary.nextBatchSize), or DRAIN_BATCH_SIZE.

export function nextBatchSize(leftMs: number, slowestMsPerItem: number | undefined, maxSize: number, firstSize = maxSize): number {
  if (leftMs <= 0) return 0;
  if (slowestMsPerItem === undefined) return Math.min(maxSize, firstSize);
  return Math.min(maxSize, Math.floor(leftMs / Math.max(slowestMsPerItem, 0.001)));
}
