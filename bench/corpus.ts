// Realistic course and post text for benchmarks: 200–1,500 characters of varied vocabulary, seeded.
export { seededRandom } from "../testing/random";

const VOCABULARY = (
  "learn practice understand build design analyze data python javascript course lesson module project exercise quiz " +
  "student teacher community discussion question answer example chapter introduction advanced beginner intermediate " +
  "history science mathematics algebra geometry physics chemistry biology astronomy art music painting writing essay " +
  "research method theory experiment result skill career interview portfolio team feedback review deadline schedule"
).split(" ");

/** A sentence-structured text of `200 + random * 1300` characters. */
export function realisticText(random: () => number): string {
  const target = 200 + Math.floor(random() * 1300);
  let text = "";
  while (text.length < target) {
    const words = Array.from({ length: 6 + Math.floor(random() * 12) }, () => VOCABULARY[Math.floor(random() * VOCABULARY.length)]!);
    text += `${words[0]![0]!.toUpperCase()}${words.join(" ").slice(1)}. `;
  }
  return text.slice(0, target).trim();
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

export const median = (values: number[]) => percentile(values, 50);
