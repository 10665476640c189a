// Calls a Netlify Function as AWS Lambda does once Netlify has deployed it: the zip's entry point
// (___netlify-entry-point.mjs, Netlify's bootstrap around our default export) handed Netlify's event
// (rawUrl, httpMethod, headers, body), its answer streamed through `awslambda.HttpResponseStream`, the
// globals Lambda's Node.js runtime provides. Prints {status, body} or {error} as one JSON line.
// Usage: node call-netlify-function.mjs <unzipped function dir> <request JSON: {url, method, headers, body}>
import { PassThrough } from "node:stream";
import { pathToFileURL } from "node:url";

const [dir, requestJson] = process.argv.slice(2);
const request = JSON.parse(requestJson);
globalThis.awslambda = {
  streamifyResponse: (handler) => handler,
  HttpResponseStream: { from: (stream, metadata) => Object.assign(stream, { metadata }) },
};
process.chdir(dir);
try {
  const { handler } = await import(pathToFileURL(`${dir}/___netlify-entry-point.mjs`).href);
  const stream = new PassThrough();
  const chunks = [];
  stream.on("data", (chunk) => chunks.push(chunk));
  const event = {
    rawUrl: request.url,
    httpMethod: request.method,
    headers: request.headers ?? {},
    body: request.body ?? "",
    isBase64Encoded: false,
    flags: {},
  };
  await handler(event, stream, { awsRequestId: "deploy-test", getRemainingTimeInMillis: () => 60_000, clientContext: {} });
  console.log(JSON.stringify({ status: stream.metadata.statusCode, body: Buffer.concat(chunks).toString("utf8") }));
} catch (error) {
  console.log(JSON.stringify({ error: String(error?.message ?? error) }));
}
