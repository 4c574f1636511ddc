// The documents keep up with the code: every error code and every frame type of protocol.ts
// is in docs/PROTOCOL.md, every command in the README, and every serve and connect option.

import { assert } from "./_assert.ts";
import { ERROR_CODES } from "../protocol.ts";
import { HELP } from "../_cli/tui/commands.ts";
import { runParley } from "./_helpers.ts";

const read = (path: string) => Deno.readTextFile(new URL(`../${path}`, import.meta.url));

Deno.test("PROTOCOL.md has a row for every error code", async () => {
  const doc = await read("docs/PROTOCOL.md");
  for (const code of ERROR_CODES) {
    assert(new RegExp(`^\\| \`${code}\` +\\|`, "m").test(doc), `no row for "${code}"`);
  }
});

Deno.test("PROTOCOL.md shows every frame type", async () => {
  const doc = await read("docs/PROTOCOL.md");
  const source = await read("protocol.ts");
  const types = [...source.matchAll(/^ {2}type: "([a-z_]+)";$/gm)].map((match) => match[1]!);
  assert(types.length > 20, "frame types found in protocol.ts");
  for (const type of new Set(types)) {
    assert(
      doc.includes(`"type": "${type}"`) || doc.includes(`"type":"${type}"`),
      `no example of "${type}"`,
    );
  }
});

Deno.test("the README lists every command the client's /help does", async () => {
  const readme = await read("README.md");
  for (const [, command] of HELP.matchAll(/^\/([a-z]+)/gm)) {
    assert(readme.includes(`/${command}`), `README does not mention /${command}`);
  }
});

Deno.test("the README's quick start is the test command CI runs", async () => {
  const readme = await read("README.md");
  const ci = await read(".ci/run");
  assert(readme.includes("npx -y deno@2.9.6 task test"));
  assert(ci.includes("npx -y deno@2.9.6 task test"));
});

Deno.test("every option in --help is one the command takes", async () => {
  for (const command of ["serve", "connect"]) {
    const help = (await runParley([command, "--help"])).stdout;
    for (const [, option] of help.matchAll(/^ {2}(--[a-z-]+)/gm)) {
      const result = await runParley([command, option!, "--help"]);
      assert(!result.stderr.includes("unknown option"), `${command} ${option}: ${result.stderr}`);
    }
  }
});
