// Reloading the TLS certificate never loses the listener, and the log says what happened: a
// renewal while clients stay connected and another local process tries to take the port; files
// that do not work; the port lost and taken back where SO_REUSEPORT is not to be had; and
// certificates that have expired, are not valid yet or expire soon, warned about at start and
// on reload.

import { assert, assertEquals, assertMatch, assertRejects } from "./_assert.ts";
import { ChatClient } from "../client.ts";
import {
  deadline,
  deno,
  MOD_TS,
  nextFrame,
  ParleyProcess,
  serveProcess,
  startServer,
  tempDir,
} from "./_helpers.ts";
import { install, type LiveFiles, liveFiles, makeCertificates } from "./_tls.ts";

const ignore = Deno.build.os === "windows" || (() => {
  try {
    return !new Deno.Command("openssl", { args: ["version"], stdout: "null" }).outputSync().success;
  } catch {
    return Deno.env.get("CI") !== "true";
  }
})();

const DAY_MS = 24 * 60 * 60 * 1000;

/** The certificate and key files a server is started with, and `install` writes over. */
function connectTls(port: number, name: string, ca: string): Promise<ChatClient> {
  return deadline(
    ChatClient.connect({ port, name, tls: { caCerts: [ca] }, keepAliveMs: 0 }),
    10_000,
    `${name} connecting over TLS`,
  );
}

/** `parley serve` with TLS on a free port and `live`, logging warnings; resolves with its port. */
async function serveTls(
  live: LiveFiles,
  command?: string[],
): Promise<{ server: ParleyProcess; port: number }> {
  const args = [
    "serve",
    "--db",
    ":memory:",
    "--port",
    "0",
    "--log-level",
    "warn",
    "--tls-port",
    "0",
    "--tls-cert",
    live.certFile,
    "--tls-key",
    live.keyFile,
  ];
  const server = command ? new ParleyProcess(args, { command }) : await serveProcess(args.slice(1));
  try {
    const [, port] = await server.waitFor(/listening for TLS on 127\.0\.0\.1:(\d+)/);
    return { server, port: Number(port) };
  } catch (error) {
    await server[Symbol.asyncDispose]();
    throw error;
  }
}

/** What the CLI said of its `n`th reload: the line that starts "parley: TLS". */
async function reloadOutcome(server: ParleyProcess, n: number): Promise<string> {
  const line = "^parley: TLS [^\\n]*\\n";
  await server.waitFor(new RegExp(`(?:${line}[^]*?){${n}}`, "m"), "stderr");
  return [...server.stderr.matchAll(new RegExp(line, "gm"))][n - 1]![0].trimEnd();
}

/**
 * Another local process that tries, as fast as it can, to listen on `port` (on 127.0.0.1, as the
 * server) and, once it has it, keeps it for `holdMs` and says so on stdout.
 */
function grabber(port: number, holdMs: number): ParleyProcess {
  const code = `
    const port = Number(Deno.env.get("GRAB_PORT"));
    const holdMs = Number(Deno.env.get("GRAB_HOLD_MS"));
    console.log("spinning");
    const stop = Date.now() + 120_000;
    let tries = 0;
    while (Date.now() < stop) {
      tries++;
      let listener;
      try {
        listener = Deno.listen({ hostname: "127.0.0.1", port });
      } catch {
        continue;
      }
      console.log("took the port after " + tries + " tries");
      await new Promise((resolve) => setTimeout(resolve, holdMs));
      listener.close();
      console.log("let go of the port");
      break;
    }
  `;
  return new ParleyProcess([], {
    command: [deno(), "eval", code],
    env: { GRAB_PORT: String(port), GRAB_HOLD_MS: String(holdMs) },
  });
}

Deno.test({
  name: "SIGHUP renews the certificate while another process tries to take the port: TLS stays",
  ignore,
  async fn() {
    await using dir = await tempDir();
    const certs = [
      await makeCertificates(dir.path, "a", { days: 30 }),
      await makeCertificates(dir.path, "b", { days: 30 }),
    ];
    const live = liveFiles(dir.path);
    await install(live, certs[0]!);
    const { server, port } = await serveTls(live);
    await using _server = server;
    await using early = await connectTls(port, "early", certs[0]!.ca);
    await using grab = grabber(port, 600_000);
    await grab.waitFor(/spinning/);

    // Each reload is a chance for the other process, should the port ever be free.
    for (let round = 1; round <= 12; round++) {
      const next = certs[round % 2]!;
      await install(live, next);
      server.child.kill("SIGHUP");
      assertEquals(await reloadOutcome(server, round), "parley: TLS certificate reloaded");
      // Right after the reload, on the new certificate; the old one's CA no longer verifies it.
      const client = await connectTls(port, `late${round}`, next.ca);
      await client.quit();
      const stale = certs[(round + 1) % 2]!;
      await assertRejects(() => connectTls(port, "stale", stale.ca), Deno.errors.InvalidData);
    }
    assert(!grab.stdout.includes("took the port"), grab.stdout);

    // The connection from before the reloads is still there and works.
    await using late = await connectTls(port, "late", certs[0]!.ca);
    late.send("after the reloads");
    assertEquals((await nextFrame(early, "message")).text, "after the reloads");
  },
});

Deno.test({
  name: "reloadTls with files that do not work keeps the old listener open and says so",
  ignore,
  async fn() {
    await using dir = await tempDir();
    const good = await makeCertificates(dir.path, "good", { days: 30 });
    const other = await makeCertificates(dir.path, "other", { days: 30 });
    const live = liveFiles(dir.path);
    await install(live, good);
    await using server = startServer({ tls: { ...live, port: 0 } });
    const port = server.tlsAddr!.port;
    await using grab = grabber(port, 600_000);
    await grab.waitFor(/spinning/);

    const broken: [string, () => Promise<void>][] = [
      ["a key file that is not there", () => Deno.remove(live.keyFile)],
      ["a certificate file that holds none", () => Deno.writeTextFile(live.certFile, "junk")],
      ["the key of another certificate", () => Deno.copyFile(other.keyFile, live.keyFile)],
    ];
    for (const [index, [what, breakFiles]] of broken.entries()) {
      await install(live, good);
      await breakFiles();
      const error = await assertRejects(() => server.reloadTls(), Error);
      assertMatch(
        error.message,
        /^TLS certificate not reloaded, the old one stays in use: /,
        what,
      );
      const client = await connectTls(port, `still${index}`, good.ca);
      await client.quit();
    }
    assert(!grab.stdout.includes("took the port"), grab.stdout);
  },
});

Deno.test({
  name: "without SO_REUSEPORT, a reload that loses the port says so and takes it back",
  ignore,
  async fn() {
    await using dir = await tempDir();
    const certs = [
      await makeCertificates(dir.path, "a", { days: 30 }),
      await makeCertificates(dir.path, "b", { days: 30 }),
    ];
    const live = liveFiles(dir.path);
    await install(live, certs[0]!);
    // No deno.json, so no --unstable-net: the listener cannot share its port.
    const { server, port } = await serveTls(live, [
      deno(),
      "run",
      "--no-config",
      "--allow-all",
      "--quiet",
      MOD_TS,
    ]);
    await using _server = server;
    await using grab = grabber(port, 1500);
    await grab.waitFor(/spinning/);

    // The port is free only for a moment in each reload: try until the other process gets it.
    let lost = false;
    for (let round = 1; round <= 60 && !lost; round++) {
      const next = certs[round % 2]!;
      await install(live, next);
      server.child.kill("SIGHUP");
      const outcome = await reloadOutcome(server, round);
      if (outcome.startsWith("parley: TLS listener lost")) {
        lost = true;
        assertMatch(outcome, /port \d+ cannot be listened on again .*TLS is down/);
        await grab.waitFor(/took the port/);
        await grab.waitFor(/let go of the port/);
        await server.waitFor(new RegExp(`WARN TLS listener is back on port ${port}`), "stderr");
      } else {
        assertEquals(outcome, "parley: TLS certificate reloaded");
      }
      const client = await connectTls(port, `late${round}`, next.ca);
      await client.quit();
    }
    assert(lost, "the other process never took the port in 60 reloads");
  },
});

Deno.test({
  name: "certificates that expired, are not valid yet or expire soon are warned about, and served",
  ignore,
  async fn() {
    await using dir = await tempDir();
    const now = Date.now();
    const soon = await makeCertificates(dir.path, "soon", { days: 1 });
    const expired = await makeCertificates(dir.path, "expired", {
      from: new Date(now - 30 * DAY_MS),
      to: new Date(now - DAY_MS),
    });
    const early = await makeCertificates(dir.path, "early", {
      from: new Date(now + DAY_MS),
      to: new Date(now + 30 * DAY_MS),
    });
    const fine = await makeCertificates(dir.path, "fine", { days: 30 });
    const live = liveFiles(dir.path);
    const file = live.certFile.replaceAll(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const date = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z";
    await install(live, soon);
    const { server, port } = await serveTls(live);
    await using _server = server;
    await server.waitFor(
      new RegExp(`WARN TLS certificate ${file} expires on ${date}, within a day: renew it$`, "m"),
      "stderr",
    );

    await install(live, expired);
    server.child.kill("SIGHUP");
    assertEquals(await reloadOutcome(server, 1), "parley: TLS certificate reloaded");
    await server.waitFor(
      new RegExp(`WARN TLS certificate ${file} expired on ${date}: clients refuse it`, "m"),
      "stderr",
    );
    // Served all the same: the client is the one to refuse it.
    const refused = await assertRejects(
      () => connectTls(port, "alice", expired.ca),
      Deno.errors.InvalidData,
    );
    assertMatch(refused.message, /expired/);

    await install(live, early);
    server.child.kill("SIGHUP");
    assertEquals(await reloadOutcome(server, 2), "parley: TLS certificate reloaded");
    await server.waitFor(
      new RegExp(`WARN TLS certificate ${file} is not valid until ${date}`, "m"),
      "stderr",
    );

    await install(live, fine);
    server.child.kill("SIGHUP");
    assertEquals(await reloadOutcome(server, 3), "parley: TLS certificate reloaded");
    const client = await connectTls(port, "alice", fine.ca);
    await client.quit();
    assertEquals(server.stderr.match(/WARN TLS certificate/g)?.length, 3, server.stderr);
  },
});

Deno.test({
  name: "a second server cannot listen on a TLS port in use, SO_REUSEPORT or not",
  ignore,
  async fn() {
    await using dir = await tempDir();
    const certs = await makeCertificates(dir.path, "one", { days: 30 });
    const tls = { certFile: certs.certFile, keyFile: certs.keyFile };
    await using first = startServer({ tls: { ...tls, port: 0 } });
    const port = first.tlsAddr!.port;
    await assertRejects(
      () => Promise.resolve().then(() => startServer({ tls: { ...tls, port } })),
      Deno.errors.AddrInUse,
    );
    const client = await connectTls(port, "alice", certs.ca);
    await client.quit();
  },
});
