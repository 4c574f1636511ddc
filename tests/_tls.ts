// Test certificates, made with openssl for each test: a CA of its own and a server
// certificate it signed, for localhost, 127.0.0.1 and ::1.

/** The files of one CA and the server certificate it signed. */
export interface TestCertificates {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** The CA certificate, PEM, to trust it. */
  ca: string;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  const output = await new Deno.Command("openssl", {
    args,
    cwd: dir,
    stdout: "null",
    stderr: "piped",
  })
    .output();
  if (!output.success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(output.stderr)}`);
  }
}

/** Makes a CA and a server certificate in `dir`, with file names starting with `prefix`. */
export async function makeCertificates(dir: string, prefix: string): Promise<TestCertificates> {
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await openssl(dir, [
    "req",
    "-x509",
    ...key,
    "-keyout",
    `${prefix}-ca.key`,
    "-out",
    `${prefix}-ca.crt`,
    "-days",
    "2",
    "-subj",
    `/CN=Parley test CA ${prefix}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  await openssl(dir, [
    "req",
    ...key,
    "-keyout",
    `${prefix}.key`,
    "-out",
    `${prefix}.csr`,
    "-subj",
    "/CN=localhost",
  ]);
  await Deno.writeTextFile(
    `${dir}/${prefix}.ext`,
    "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n" +
      "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
  );
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    `${prefix}.csr`,
    "-CA",
    `${prefix}-ca.crt`,
    "-CAkey",
    `${prefix}-ca.key`,
    "-CAcreateserial",
    "-out",
    `${prefix}.crt`,
    "-days",
    "2",
    "-extfile",
    `${prefix}.ext`,
  ]);
  return {
    caFile: `${dir}/${prefix}-ca.crt`,
    certFile: `${dir}/${prefix}.crt`,
    keyFile: `${dir}/${prefix}.key`,
    ca: await Deno.readTextFile(`${dir}/${prefix}-ca.crt`),
  };
}
