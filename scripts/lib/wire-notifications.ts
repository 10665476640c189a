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
      found.push({
        channel: decoder.decode(bytes.subarray(channelStart, channelEnd)),
        payload: decoder.decode(bytes.subarray(channelEnd + 1, payloadEnd)),
      });
    }
    offset = end;
  }
  return found;
}

/**
 * Calls `listener` for each notification on `channel` from statements run over the wire. Every wire
 * client shares PGlite's one session, so the stack's LISTEN would make psql print each of them: they
 * are taken out of what a client receives unless a client itself asked to LISTEN on the channel.
 */
export function tapWireNotifications(db: PGlite, channel: string, listener: (payload: string) => void): () => void {
  const original = db.execProtocolRawStream.bind(db);
  let clientListens = false;
  db.execProtocolRawStream = async (message, options) => {
    const asked = listenRequest(message, channel);
    if (asked !== undefined) clientListens = asked;
    const chunks: Uint8Array[] = [];
    try {
      return await original(message, { ...options, onRawData: (data) => void chunks.push(data.slice()) });
    } finally {
      const all = concat(chunks);
      const notifications = parseNotifications(all);
      for (const n of notifications) if (n.channel === channel) listener(n.payload);
      const out = clientListens || !notifications.some((n) => n.channel === channel) ? all : withoutNotifications(all, channel);
      if (out.length) options?.onRawData?.(out);
    }
  };
  return () => {
    db.execProtocolRawStream = original;
  };
}

const concat = (chunks: Uint8Array[]) => {
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  chunks.reduce((offset, c) => (all.set(c, offset), offset + c.length), 0);
  return all;
};

/** true for a client's `LISTEN channel`, false for its `UNLISTEN` of it (or of all), else undefined. */
function listenRequest(message: Uint8Array, channel: string): boolean | undefined {
  if (message[0] !== 0x51 && message[0] !== 0x50) return undefined; // Query ('Q') or Parse ('P')
  const text = new TextDecoder().decode(message.subarray(5)).toLowerCase();
  const name = channel.toLowerCase();
  if (new RegExp(`\\bunlisten\\s+("?${name}"?|\\*)`).test(text)) return false;
  if (new RegExp(`\\blisten\\s+"?${name}\\b`).test(text)) return true;
  return undefined;
}

/** The protocol bytes without the NotificationResponse messages of `channel`. */
function withoutNotifications(bytes: Uint8Array, channel: string): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const kept: Uint8Array[] = [];
  let offset = 0;
  while (offset + 5 <= bytes.length) {
    const end = offset + 1 + view.getInt32(offset + 1);
    const message = bytes.subarray(offset, Math.min(end, bytes.length));
    const isOurs = bytes[offset] === NOTIFICATION_RESPONSE && parseNotifications(message)[0]?.channel === channel;
    if (!isOurs) kept.push(message);
    offset = end;
  }
  kept.push(bytes.subarray(Math.min(offset, bytes.length))); // an incomplete tail, passed on as it came
  return concat(kept);
}
