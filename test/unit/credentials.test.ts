import { describe, expect, it } from "vitest"
import { authOptions, credentialsFromEnv, mergeCredentials, redact, redactUrl, splitUserInfo } from "../../src/nats/credentials.ts"
import { CredentialsUnusable } from "../../src/nats/errors.ts"

describe("NATS credentials", () => {
  it("takes user info out of URLs: user and password, or a token", () => {
    expect(splitUserInfo("nats://bob:p%40ss@h1:4222,nats://h2:4222")).toEqual({ servers: ["nats://h1:4222", "nats://h2:4222"], user: "bob", password: "p@ss" })
    expect(splitUserInfo("tls://s3cr3t@h:4222")).toEqual({ servers: ["tls://h:4222"], token: "s3cr3t" })
    expect(splitUserInfo("127.0.0.1:4222")).toEqual({ servers: ["127.0.0.1:4222"] })
  })

  it("redacts user info, passwords, tokens, seeds and JWTs", () => {
    expect(redactUrl("cannot reach nats://bob:pw@h:1 and nats://tok@h:2")).toBe("cannot reach nats://***@h:1 and nats://***@h:2")
    const seed = "SUAM6DNAWIZGXBLJGNQAFFQIWUW7DLQ2LDDRLUO5YRBPJZ42QRCHVY2RNQ"
    const text = redact(`bad pw hunter2 token T0K3N seed ${seed} jwt eyJhbGciOi.eyJzdWIi.sig`, { password: "hunter2", token: "T0K3N" })
    expect(text).toBe("bad pw *** token *** seed *** jwt ***")
  })

  it("flags choose the way of authenticating as a whole; TLS merges key by key", () => {
    const env = credentialsFromEnv({ DTQ_NATS_USER: "u", DTQ_NATS_PASSWORD: "p", DTQ_NATS_TLS_CA: "/ca.pem" })
    expect(env).toEqual({ user: "u", password: "p", tls: { ca: "/ca.pem" } })
    expect(mergeCredentials({ nkeyFile: "/w.nk" }, env)).toEqual({ nkeyFile: "/w.nk", tls: { ca: "/ca.pem" } })
    expect(mergeCredentials({}, env)).toEqual(env)
  })

  it("refuses a password without a user, and a certificate without its key, naming the option", () => {
    expect(() => authOptions("nats://h:1", { password: "p" })).toThrow(CredentialsUnusable)
    expect(() => authOptions("nats://h:1", { password: "p" })).toThrow(/--password needs --user/)
    expect(() => authOptions("nats://h:1", { tls: { cert: "/dev/null" } })).toThrow(/--tls-key.*both/)
  })
})
