// Where the functions answer: the same paths locally, on Vercel and on Netlify (ARCHITECTURE.md §3).
// Apart from the table (endpoints.ts), which imports every function: code bundled for the edge reads
// this and names endpoints by EndpointPath, a type, so no bundle holds every function.
import type { EndpointPath } from "../endpoints.js";

export const BASE_PATH = "/api/embeddings";

/** A function's address on a site, e.g. for QStash to deliver to. */
export const endpointUrl = (siteUrl: string, path: EndpointPath) => `${siteUrl}${BASE_PATH}/${path}`;
