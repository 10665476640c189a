// The documents' hand-kept lists, read by the tests that hold them to the code (README.md, ARCHITECTURE.md).

/** The text of `doc` from the first line starting with `start` to the next blank line ("" with no such line). */
export function markdownBlock(doc: string, start: string): string {
  const from = doc.indexOf(`\n${start}`);
  if (from < 0) return "";
  const end = doc.indexOf("\n\n", from + 1);
  return doc.slice(from + 1, end < 0 ? undefined : end);
}

/** The body rows of the table whose header line starts with `header`, each as its cells, trimmed. */
export const markdownTable = (doc: string, header: string): string[][] =>
  markdownBlock(doc, header)
    .split("\n")
    .slice(2)
    .map((row) =>
      row
        .split("|")
        .slice(1, -1)
        .map((cell) => cell.trim()),
    );
