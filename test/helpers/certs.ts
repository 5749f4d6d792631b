// Test certificates made with openssl: a CA, a server certificate for 127.0.0.1/localhost and a client
// certificate, all signed by that CA (and a second, unrelated CA for "untrusted" cases).
import { execFileSync } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export type TestCerts = {
  readonly dir: string
  readonly ca: string
  readonly serverCert: string
  readonly serverKey: string
  readonly clientCert: string
  readonly clientKey: string
  /** A CA that signed nothing here: a client trusting only it must refuse the server. */
  readonly otherCa: string
}

const openssl = (dir: string, args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"], timeout: 30_000 })

const makeCa = (dir: string, name: string) =>
  openssl(dir, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", `/CN=${name}`, "-keyout", `${name}.key`, "-out", `${name}.pem`])

const makeSigned = (dir: string, name: string, ext: string) => {
  openssl(dir, ["req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${name}`, "-keyout", `${name}.key`, "-out", `${name}.csr`])
  writeFileSync(join(dir, `${name}.ext`), ext)
  openssl(dir, ["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", `${name}.ext`, "-out", `${name}.pem`])
}

export const makeTestCerts = (): TestCerts => {
  const dir = mkdtempSync(join(tmpdir(), "dtq-certs-"))
  makeCa(dir, "ca")
  makeCa(dir, "other-ca")
  makeSigned(dir, "server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
  makeSigned(dir, "client", "extendedKeyUsage=clientAuth\n")
  const p = (f: string) => join(dir, f)
  return { dir, ca: p("ca.pem"), serverCert: p("server.pem"), serverKey: p("server.key"), clientCert: p("client.pem"), clientKey: p("client.key"), otherCa: p("other-ca.pem") }
}

/** nats-server config text for TLS with these certificates; `verify` asks clients for a certificate too. */
export const tlsConfig = (c: TestCerts, verify: boolean): string =>
  ["tls {", `  cert_file: "${c.serverCert}"`, `  key_file: "${c.serverKey}"`, `  ca_file: "${c.ca}"`, `  verify: ${verify}`, "  timeout: 5", "}"].join("\n")
