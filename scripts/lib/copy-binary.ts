// PostgreSQL's binary COPY format (the protocol docs, "COPY … Binary Format"): a signature, flags and
// header-extension length; then per row its field count and each field as length + bytes, big-endian;
// then -1. pgvector's binary form of a vector (its `vector_recv`): int16 dimensions, int16 0, then each
// value a float4. So the vectors go as the float32s they are: nothing printed, nothing parsed. An
// OID-based type (regconfig) goes as its uint32 OID (`oidrecv`). jsonb is a version byte (1) and its
// text (`jsonb_recv`); timestamptz an int8 of microseconds since 2000-01-01 UTC; NULL a length of -1.

export type CopyField =
  | { text: string }
  | { int4: number }
  | { oid: number }
  | { vector: ArrayLike<number> }
  | { jsonb: string }
  | { timestamptz: string | null };

/** 2000-01-01T00:00:00Z in Unix milliseconds: PostgreSQL's epoch. */
const POSTGRES_EPOCH_MS = 946_684_800_000;

const SIGNATURE = Buffer.from("PGCOPY\n\xff\r\n\0", "latin1");

const fieldBytes = (field: CopyField) =>
  "text" in field
    ? Buffer.byteLength(field.text)
    : "jsonb" in field
      ? 1 + Buffer.byteLength(field.jsonb)
      : "timestamptz" in field
        ? field.timestamptz === null
          ? -1
          : 8
        : "int4" in field || "oid" in field
          ? 4
          : 4 + 4 * field.vector.length;

/** Refuses what the format would silently wrap (an int4 past 2^31, a vector past int16's width), as the upsert's cast refuses it. */
function check(field: CopyField) {
  if ("int4" in field && !(Number.isInteger(field.int4) && field.int4 >= -(2 ** 31) && field.int4 < 2 ** 31)) {
    throw new RangeError(`${field.int4} is not an int4`);
  }
  if ("oid" in field && !(Number.isInteger(field.oid) && field.oid >= 0 && field.oid < 2 ** 32))
    throw new RangeError(`${field.oid} is not an oid`);
  if ("vector" in field && field.vector.length > 0x7fff) throw new RangeError(`a vector of ${field.vector.length} dimensions`);
}

/** The whole COPY stream of these rows, header and trailer included. */
export function copyBinary(rows: CopyField[][]): Buffer {
  // Each field's length, measured once (a text's is a pass over its UTF-8), to size the buffer and to write.
  const lengths: number[] = [];
  let size = SIGNATURE.length + 8 + 2;
  for (const row of rows) {
    size += 2;
    for (const field of row) {
      check(field);
      lengths.push(fieldBytes(field));
      size += 4 + Math.max(0, lengths.at(-1)!);
    }
  }
  const buffer = Buffer.allocUnsafe(size);
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.length);
  let at = SIGNATURE.copy(buffer, 0);
  view.setInt32(at, 0); // flags: no OIDs
  view.setInt32(at + 4, 0); // no header extension
  at += 8;
  let n = 0;
  for (const row of rows) {
    view.setInt16(at, row.length);
    at += 2;
    for (const field of row) {
      view.setInt32(at, lengths[n++]!);
      at += 4;
      if ("text" in field) at += buffer.write(field.text, at, "utf8");
      else if ("jsonb" in field) {
        view.setUint8(at, 1);
        at += 1 + buffer.write(field.jsonb, at + 1, "utf8");
      } else if ("timestamptz" in field) {
        if (field.timestamptz === null) continue;
        view.setBigInt64(at, BigInt(Date.parse(field.timestamptz) - POSTGRES_EPOCH_MS) * 1000n);
        at += 8;
      } else if ("int4" in field) {
        view.setInt32(at, field.int4);
        at += 4;
      } else if ("oid" in field) {
        view.setUint32(at, field.oid);
        at += 4;
      } else {
        const { vector } = field;
        view.setInt16(at, vector.length);
        view.setInt16(at + 2, 0);
        at += 4;
        for (let i = 0; i < vector.length; i++, at += 4) view.setFloat32(at, vector[i]!);
      }
    }
  }
  view.setInt16(at, -1);
  return buffer;
}
