// The web port over TLS: with the server's certificate and key it serves HTTPS and WSS, and
// reloadTls (SIGHUP) swaps the certificate without dropping an open WebSocket.

import { assertEquals, assertRejects } from "@std/assert";
import { join, nextFrame, serveProcess, startServer, tempDir } from "./_helpers.ts";
import { install, liveFiles, makeCertificates } from "./_tls.ts";
import { RawWebSocket } from "./_websocket.ts";
import type { ChatServer } from "../server.ts";

/** GETs `path` over HTTPS from `server`'s web port, trusting only the CA `ca`; returns the
 * status and the body. */
async function getHttps(
  server: ChatServer,
  path: string,
  ca: string,
): Promise<{ status: number; body: string }> {
  using client = Deno.createHttpClient({ caCerts: [ca] });
  const response = await fetch(`https://127.0.0.1:${server.httpAddr!.port}${path}`, { client });
  return { status: response.status, body: await response.text() };
}

Deno.test("wss: with TLS files the web port serves HTTPS and WSS, and checks the https origin", async () => {
  await using dir = await tempDir();
  const certs = await makeCertificates(dir.path, "web");
  await using server = startServer({
    httpPort: 0,
    tls: { certFile: certs.certFile, keyFile: certs.keyFile, port: 0 },
  });
  const status = await getHttps(server, "/status", certs.ca);
  assertEquals(status.status, 200);
  assertEquals(JSON.parse(status.body).ok, true);
  // Plain HTTP is not served on that port.
  await assertRejects(async () => {
    const response = await fetch(`http://127.0.0.1:${server.httpAddr!.port}/status`);
    await response.body?.cancel();
  });

  const origin = `https://127.0.0.1:${server.httpAddr!.port}`;
  {
    const refused = await RawWebSocket.handshake(
      server,
      `http://127.0.0.1:${server.httpAddr!.port}`,
      undefined,
      certs.ca,
    );
    await using _socket = refused.socket;
    assertEquals(refused.status, "HTTP/1.1 403 Forbidden");
  }
  const { socket, status: line } = await RawWebSocket.handshake(
    server,
    origin,
    undefined,
    certs.ca,
  );
  await using _socket = socket;
  assertEquals(line, "HTTP/1.1 101 Switching Protocols");
  await using tcp = await join(server, "tcp");
  await socket.sendText(JSON.stringify({ type: "hello", name: "web" }));
  await socket.readUntil('"type":"history"', 5000);
  await socket.sendText(JSON.stringify({ type: "send", text: "from wss" }));
  assertEquals((await nextFrame(tcp, "message")).text, "from wss");
  tcp.send("to wss");
  await socket.readUntil('"text":"to wss"', 5000);
});

Deno.test("wss: reloadTls serves the new certificate; an open WSS connection stays up", async () => {
  await using dir = await tempDir();
  const first = await makeCertificates(dir.path, "first");
  const second = await makeCertificates(dir.path, "second");
  const { certFile, keyFile } = liveFiles(dir.path);
  await install({ certFile, keyFile }, first);
  await using server = startServer({ httpPort: 0, tls: { certFile, keyFile, port: 0 } });
  const port = server.httpAddr!.port;
  const { socket, status } = await RawWebSocket.handshake(
    server,
    `https://127.0.0.1:${port}`,
    undefined,
    first.ca,
  );
  await using _socket = socket;
  assertEquals(status, "HTTP/1.1 101 Switching Protocols");
  await socket.sendText(JSON.stringify({ type: "hello", name: "early" }));
  await socket.readUntil('"type":"history"', 5000);

  await install({ certFile, keyFile }, second);
  await server.reloadTls();
  assertEquals(server.httpAddr!.port, port);
  // Only the new CA verifies what the port serves now, every time (no share left to the old).
  for (let i = 0; i < 5; i++) {
    assertEquals((await getHttps(server, "/status", second.ca)).status, 200);
    await assertRejects(() => getHttps(server, "/status", first.ca), TypeError);
  }
  // The WebSocket opened before the reload still carries frames both ways.
  await using tcp = await join(server, "tcp");
  await socket.sendText(JSON.stringify({ type: "send", text: "after the reload" }));
  assertEquals((await nextFrame(tcp, "message")).text, "after the reload");
  tcp.send("back to early");
  await socket.readUntil('"text":"back to early"', 5000);

  // Files that do not work are refused, and the certificate in use stays.
  await Deno.writeTextFile(certFile, "not a certificate");
  const error = await assertRejects(() => server.reloadTls(), Error);
  assertEquals(/not reloaded, the old one stays in use/.test(error.message), true, error.message);
  assertEquals((await getHttps(server, "/status", second.ca)).status, 200);
});

Deno.test("wss: `parley serve --http-port --tls-cert --tls-key` prints an https URL and serves it", async () => {
  await using dir = await tempDir();
  const certs = await makeCertificates(dir.path, "cli");
  await using server = await serveProcess([
    "--http-port",
    "0",
    "--tls-port",
    "0",
    "--tls-cert",
    certs.certFile,
    "--tls-key",
    certs.keyFile,
  ]);
  const [url] = await server.waitFor(/https:\/\/127\.0\.0\.1:\d+\//);
  using client = Deno.createHttpClient({ caCerts: [certs.ca] });
  const response = await fetch(`${url}status`, { client });
  assertEquals((await response.json()).ok, true);
});
