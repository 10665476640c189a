import { describe, expect, it } from "vitest";
import { float32Digits, float32Vector } from "../functions/db/float32";
import { seededRandom } from "../testing/random";

const sameFloat32 = (text: string, value: number) => Math.fround(Number(text)) === Math.fround(value);
/** Digits from the first to the last non-zero one. */
const significantDigits = (text: string) => text.replace(/e.*$/, "").replace(/[-.]/g, "").replace(/^0+/, "").replace(/0+$/, "").length;

describe("float32 vectors as text", () => {
  it("prints every float32 with at most 9 significant digits and reads back as the same float32", () => {
    const random = seededRandom(7);
    const values = Array.from({ length: 200_000 }, (_, i) => {
      // Embedding-sized values, plus every scale a float32 can take.
      const scale = i % 10 === 0 ? 10 ** Math.floor(random() * 70 - 40) : 0.05;
      return Math.fround((random() - 0.5) * scale);
    });
    const wrong = values
      .map((value) => ({ value, text: JSON.stringify(float32Digits(value)) }))
      .filter(
        ({ value, text }) =>
          !sameFloat32(text, value) || (Math.abs(value) >= 1e-14 && Math.abs(value) < 1e31 && significantDigits(text) > 9),
      );
    expect(wrong).toEqual([]);
  });

  it("keeps the edges: zero, the extremes of float32, non-finite values", () => {
    for (const value of [0, -0, 1, -1, 3.4028234663852886e38, 1.1754943508222875e-38, 1.401298464324817e-45, Infinity, -Infinity]) {
      expect(Object.is(Math.fround(float32Digits(value)), Math.fround(value)), String(value)).toBe(true);
    }
    expect(float32Digits(NaN)).toBeNaN();
  });

  it("stores a double (the local embedder's) as the float32 the column would make of it", () => {
    const random = seededRandom(9);
    const doubles = Array.from({ length: 20_000 }, () => (random() - 0.5) * 0.1);
    expect(doubles.filter((x) => Math.fround(Number(JSON.stringify(float32Digits(x)))) !== Math.fround(x))).toEqual([]);
  });

  it("makes an embedding's text about a third shorter", () => {
    const random = seededRandom(8);
    const vector = Array.from({ length: 1536 }, () => Math.fround((random() - 0.5) * 0.08));
    const rounded = float32Vector(vector);
    expect(rounded.map(Math.fround)).toEqual(vector);
    expect(JSON.stringify(rounded).length).toBeLessThan(JSON.stringify(vector).length * 0.7);
  });
});
