// Notifications raised by statements that arrive over the socket go to that socket's client, not
// to PGlite's own listeners. Tapping the raw protocol output lets the local stack hear them too.
import type { PGlite } from "@electric-sql/pglite";

const NOTIFICATION_RESPONSE = 0x41; // 'A'

/** Reads NotificationResponse messages (int32 pid, channel, payload) out of backend protocol bytes. */
export function parseNotifications(bytes: Uint8Array): { channel: string; payload: string }[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder();
  const found: { channel: string; payload: string }[] = [];
  for (let offset = 0; offset + 5 <= bytes.length; ) {
    const type = bytes[offset]!;
    const length = view.getInt32(offset + 1);
    const end = offset + 1 + length;
    if (length < 4 || end > bytes.length) break;
    if (type === NOTIFICATION_RESPONSE) {
      const channelStart = offset + 9;
      const channelEnd = bytes.indexOf(0, channelStart);
      const payloadEnd = bytes.indexOf(0, channelEnd + 1);
      found.push({ channel: decoder.decode(bytes.subarray(channelStart, channelEnd)), payload: decoder.decode(bytes.subarray(channelEnd + 1, payloadEnd)) });
    }
    offset = end;
  }
  return found;
}

/** Calls `listener` for each notification on `channel` from statements run over the wire. */
export function tapWireNotifications(db: PGlite, channel: string, listener: (payload: string) => void): () => void {
  const original = db.execProtocolRawStream.bind(db);
  db.execProtocolRawStream = async (message, options) => {
    const chunks: Uint8Array[] = [];
    await original(message, { ...options, onRawData: (data) => { chunks.push(data.slice()); options?.onRawData?.(data); } });
    const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    chunks.reduce((offset, c) => (all.set(c, offset), offset + c.length), 0);
    for (const n of parseNotifications(all)) if (n.channel === channel) listener(n.payload);
  };
  return () => {
    db.execProtocolRawStream = original;
  };
}
