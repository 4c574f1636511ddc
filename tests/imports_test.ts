// What a library user loads: importing the client, the server, the protocol or mod.ts loads no
// part of the command-line program, the terminal UI or the assertions; running mod.ts (and so a
// URL run or `deno compile`) still reaches all of the program. Read from Deno's own module graph.

import { assert, assertEquals } from "./_assert.ts";
import { deno } from "./_helpers.ts";

interface Dependency {
  isDynamic?: boolean;
  code?: { specifier: string };
}

interface ModuleGraph {
  modules: { specifier: string; dependencies?: Dependency[] }[];
}

const ROOT = new URL("../", import.meta.url);

/** The module graph of `module` as `deno info --json` gives it. */
async function graph(module: string): Promise<ModuleGraph> {
  const output = await new Deno.Command(deno(), {
    args: ["info", "--json", new URL(module, ROOT).pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(output.success, new TextDecoder().decode(output.stderr));
  return JSON.parse(new TextDecoder().decode(output.stdout));
}

/** The modules that `module` loads as it is imported, the project's own by relative path: its
 * static imports, and theirs, but no dynamic `import()`. */
async function loadedOnImport(module: string): Promise<string[]> {
  const { modules } = await graph(module);
  const byName = new Map(modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const visit = (specifier: string) => {
    if (seen.has(specifier)) return;
    seen.add(specifier);
    for (const dependency of byName.get(specifier)?.dependencies ?? []) {
      if (!dependency.isDynamic && dependency.code) visit(dependency.code.specifier);
    }
  };
  visit(new URL(module, ROOT).href);
  return [...seen].map((s) => s.startsWith(ROOT.href) ? s.slice(ROOT.href.length) : s);
}

/** The program's modules, the tests', and std's assertions. */
const PROGRAM_ONLY = /^(_cli\/|tests\/)|\/assert\//;

for (const module of ["client.ts", "server.ts", "protocol.ts", "mod.ts"]) {
  Deno.test(`importing ${module} loads no part of the program, the terminal UI or the assertions`, async () => {
    const loaded = await loadedOnImport(module);
    assert(loaded.includes(module), `${module} itself: ${loaded}`);
    assertEquals(loaded.filter((path) => PROGRAM_ONLY.test(path)), []);
  });
}

Deno.test("running mod.ts reaches the whole program, the terminal UI and the checkpoint worker's starter", async () => {
  const all = (await graph("mod.ts")).modules.map((m) => m.specifier);
  const reached = [
    "_cli/main.ts",
    "_cli/tui/terminal.ts",
    "_cli/pipe.ts",
    "_server/checkpointing.ts",
  ];
  for (const path of reached) {
    assert(all.includes(new URL(path, ROOT).href), `${path} is in mod.ts's graph`);
  }
  assert(!all.some((s) => s.includes("/tests/")), "no test code in the program's graph");
});
