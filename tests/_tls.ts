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

/** How long the server certificate of {@linkcode makeCertificates} is valid. */
export interface Validity {
  /** From now, for this many days. Default 2. */
  days?: number;
  /** From `from` to `to` instead, which may both be in the past or in the future. */
  from?: Date;
  to?: Date;
}

/**
 * Makes a CA and a server certificate in `dir`, with file names starting with `prefix`, the
 * server certificate valid for as long as `validity` says.
 */
export async function makeCertificates(
  dir: string,
  prefix: string,
  validity: Validity = {},
): Promise<TestCertificates> {
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
  const extensions = "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n" +
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n";
  if (validity.from !== undefined && validity.to !== undefined) {
    await signWithDates(dir, prefix, extensions, validity.from, validity.to);
  } else {
    await signForDays(dir, prefix, extensions, validity.days ?? 2);
  }
  return {
    caFile: `${dir}/${prefix}-ca.crt`,
    certFile: `${dir}/${prefix}.crt`,
    keyFile: `${dir}/${prefix}.key`,
    ca: await Deno.readTextFile(`${dir}/${prefix}-ca.crt`),
  };
}

async function signForDays(
  dir: string,
  prefix: string,
  extensions: string,
  days: number,
): Promise<void> {
  await Deno.writeTextFile(`${dir}/${prefix}.ext`, extensions);
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
    String(days),
    "-extfile",
    `${prefix}.ext`,
  ]);
}

/** Signs with `openssl ca`, which takes any start and end date (`x509` in OpenSSL 3.0 does not). */
async function signWithDates(
  dir: string,
  prefix: string,
  extensions: string,
  from: Date,
  to: Date,
): Promise<void> {
  await Deno.writeTextFile(`${dir}/${prefix}-index.txt`, "");
  await Deno.writeTextFile(`${dir}/${prefix}-serial`, "01\n");
  await Deno.writeTextFile(
    `${dir}/${prefix}-ca.cnf`,
    `[ca]\ndefault_ca = here\n[here]\ndatabase = ${prefix}-index.txt\nnew_certs_dir = .\n` +
      `serial = ${prefix}-serial\ndefault_md = sha256\npolicy = any\nx509_extensions = ext\n` +
      `[any]\ncommonName = supplied\n[ext]\n${extensions}`,
  );
  // GeneralizedTime: YYYYMMDDHHMMSSZ.
  const stamp = (date: Date) => date.toISOString().replace(/[-:T]|\.\d+/g, "");
  await openssl(dir, [
    "ca",
    "-batch",
    "-notext",
    "-config",
    `${prefix}-ca.cnf`,
    "-cert",
    `${prefix}-ca.crt`,
    "-keyfile",
    `${prefix}-ca.key`,
    "-in",
    `${prefix}.csr`,
    "-out",
    `${prefix}.crt`,
    "-startdate",
    stamp(from),
    "-enddate",
    stamp(to),
  ]);
}

/** Where a server reads its certificate and key: files a test replaces to renew them. */
export interface LiveFiles {
  certFile: string;
  keyFile: string;
}

/** The live certificate and key files in `dir`. */
export function liveFiles(dir: string): LiveFiles {
  return { certFile: `${dir}/live.crt`, keyFile: `${dir}/live.key` };
}

/** Puts `certs` in place as the live files, as a renewal would. */
export async function install(live: LiveFiles, certs: TestCertificates): Promise<void> {
  await Deno.copyFile(certs.certFile, live.certFile);
  await Deno.copyFile(certs.keyFile, live.keyFile);
}
