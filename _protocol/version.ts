// The version, read from deno.json so that there is one place to change it. A JSON import works
// from a local checkout, from a URL and inside a compiled executable alike.
import config from "../deno.json" with { type: "json" };

/** Parley's version, as in deno.json. */
export const VERSION: string = config.version;
