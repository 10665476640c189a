// Calls a built edge function in Deno, as the edge runtimes do: the module the platform's bundler packs,
// its default export handed each Request, the environment through Netlify's `Netlify` global (Netlify)
// or `process.env` (Vercel's edge runtime; Deno has it too).
// RELAY (optional) is where WebSockets go instead of `wss://<database host>/v2`: a local stand-in for
// Neon's proxy. Prints one JSON line per request: {status, body}.
// Usage: deno run --allow-env --allow-net --allow-read call-edge-function.mjs <module> <requests JSON: [{url, method, headers, body}]>
const [modulePath, requestsJson] = Deno.args;
const relay = Deno.env.get("RELAY");
if (relay) {
  const NativeWebSocket = globalThis.WebSocket;
  globalThis.WebSocket = class extends NativeWebSocket {
    constructor(_url, protocols) {
      super(relay, protocols);
    }
  };
}
globalThis.Netlify = { env: { get: (key) => Deno.env.get(key), toObject: () => Deno.env.toObject() }, context: null };
const { default: handler } = await import(new URL(modulePath, `file://${Deno.cwd()}/`).href);
for (const request of JSON.parse(requestsJson)) {
  const response = await handler(new Request(request.url, request), {});
  console.log(JSON.stringify({ status: response.status, body: await response.text() }));
}
// An isolate outlives its requests on Netlify: what is left open (a pool's timers) is not waited for.
Deno.exit(0);
