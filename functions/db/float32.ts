// Vectors go to Postgres as text (`[0.1,…]`, Drizzle's JSON). Their values are float32s, held as
// doubles, which print with up to 17 significant digits; a float32 needs at most 9 to come back the
// same. Rounding each to 9 digits first makes the text a third shorter, so that there is less to send
// and for the server to parse, and stores exactly the same float32s.

/** 10^k, exact in a double for k ≤ 22 (parsed, not computed). */
const POWERS = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`));

/**
 * The double nearest to `value`'s float32 with 9 significant digits: it prints with at most 9 and
 * reads back, as a float32, as that same float32 (any float32 value's 9-digit rounding does). Values
 * whose scale needs a power of ten past 10^22 (below 1e-14, from 1e31), 0 and non-finite ones are kept.
 */
export function float32Digits(value: number): number {
  const x = Math.fround(value); // the float32 the column stores, whatever precision `value` had
  const k = 8 - Math.floor(Math.log10(Math.abs(x)));
  if (k >= 0 && k <= 22) return Math.round(x * POWERS[k]!) / POWERS[k]!;
  if (k < 0 && k >= -22) return Math.round(x / POWERS[-k]!) * POWERS[-k]!;
  return x;
}

/** The vector with each value rounded by `float32Digits`. */
export const float32Vector = (vector: number[]): number[] => vector.map(float32Digits);
