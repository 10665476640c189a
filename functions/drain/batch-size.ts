// How many items the drain's next batch claims: as many as the time left holds at the slowest pace
// (ms per item, claim to settle) seen in this run, but none when that is under a quarter of the largest
// batch done so far: a batch's fixed cost (claim, transaction, settle) would outweigh it, and the next
// run of the chain does it better. The first batch has no pace yet: it takes the size the previous run
// of the chain found to fit (DrainSummary.nextBatchSize), or DRAIN_BATCH_SIZE.

export type Pace = { slowestMsPerItem: number; largestBatch: number };

export function nextBatchSize(leftMs: number, pace: Pace | undefined, maxSize: number, firstSize = maxSize): number {
  if (leftMs <= 0) return 0;
  if (!pace) return Math.min(maxSize, firstSize);
  const size = Math.min(maxSize, Math.floor(leftMs / Math.max(pace.slowestMsPerItem, 0.001)));
  return size * 4 < pace.largestBatch ? 0 : size;
}
