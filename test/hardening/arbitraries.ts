/**
 * fast-check arbitraries of bad input for the plugin's HTTP surface: bodies (wrong types, huge
 * strings, deep JSON, invalid UTF-8, oversized, truncated), content types, methods, query
 * strings and tenant ids (path tricks, encodings, unicode, too long, empty).
 */
import fc from "fast-check";
import { MAX_BODY_BYTES } from "../../src/http/signature";
import type { Body } from "./harness";

const utf8 = new TextEncoder();

/** A string of `n` characters built fast (fast-check generates long strings one char at a time). */
const filled = (ch: string, n: number) => ch.repeat(Math.max(1, Math.ceil(n / ch.length)));

/** Strings from 1 KB up to ~300 KB (past the 256 KiB body cap for the larger ones), of awkward characters. */
export const hugeText = fc
  .tuple(fc.integer({ min: 1_000, max: 300_000 }), fc.constantFrom("x", "é", "\u0000", '"', "\\", "𝒜", "\ud800", " ", "0", "<script>"))
  .map(([n, ch]) => filled(ch, n));

/** JSON text nested 10 to 120 000 levels deep: arrays, objects, or a mix. */
export const deepJson = fc.tuple(fc.integer({ min: 10, max: 120_000 }), fc.constantFrom("array", "object", "mixed")).map(([depth, kind]) => {
  if (kind === "array") return "[".repeat(depth) + "]".repeat(depth);
  if (kind === "object") return '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
  return '[{"a":'.repeat(depth) + "null" + "}]".repeat(depth);
});

/** Odd JSON scalars and literals. */
const oddLiterals = fc.constantFrom(
  "null", "true", "false", "0", "-0", "1e309", "-1e309", "1e-400", "123456789012345678901234567890", "9007199254740993", "-1", "0.5",
  '""', '" "', '"\\u0000"', '"\\ud800"', '"\\udc00\\ud800"', '"\\u202e"', '"\\ufeff"', "[]", "{}", "[null]", '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{}}}',
);

/** A JSON value text of the wrong type or shape for whatever field it lands in. */
export const badJsonValue: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.anything({ maxDepth: 3, maxKeys: 5 }).map((v) => JSON.stringify(v) ?? "null") },
  { weight: 3, arbitrary: oddLiterals },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 64 }).map((s) => JSON.stringify(s)) },
  { weight: 1, arbitrary: fc.integer().map(String) },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }).map(String) },
  { weight: 1, arbitrary: hugeText.map((s) => JSON.stringify(s)) },
  { weight: 1, arbitrary: deepJson },
  { weight: 1, arbitrary: fc.array(fc.string({ maxLength: 70 }), { minLength: 990, maxLength: 1_100 }).map((a) => JSON.stringify(a)) },
);

/** Bytes that are not UTF-8: overlong forms, lone continuation bytes, truncated sequences, encoded surrogates, 0xFF. */
export const invalidUtf8: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    fc.uint8Array({ maxLength: 120 }),
    fc.constantFrom([0xff], [0xfe], [0xc0, 0x80], [0xc1, 0xbf], [0x80], [0xbf], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe0, 0x80, 0xaf]),
    fc.uint8Array({ maxLength: 60 }),
    fc.boolean(),
  )
  .map(([head, bad, tail, inJson]) => {
    const middle = new Uint8Array([...head, ...bad, ...tail]);
    if (!inJson) return middle;
    // Valid JSON around it, so only the encoding is wrong.
    return new Uint8Array([...utf8.encode('{"hashes":["'), ...bad, ...utf8.encode('"],"bundles":["'), ...bad, ...utf8.encode('"]}')]);
  })
  .filter((bytes) => {
    try {
      new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
      return false;
    } catch {
      return true;
    }
  });

/** Bodies past the plugin's 256 KiB cap, text or JSON. */
export const oversized = fc
  .tuple(fc.integer({ min: MAX_BODY_BYTES + 1, max: MAX_BODY_BYTES + 150_000 }), fc.boolean())
  .map(([n, json]) => (json ? `{"hashes":["${"a".repeat(n)}"]}` : "x".repeat(n)));

/**
 * A body for a route whose valid body is `valid`: mostly near-valid (one field wrong, missing or
 * extra), else a whole wrong body of any kind.
 */
export function badBody(valid: Record<string, unknown> | undefined): fc.Arbitrary<Body> {
  const base = valid ?? { hashes: ["a".repeat(64)] };
  const keys = Object.keys(base);
  const splice = (obj: Record<string, unknown>, key: string, valueText: string) => JSON.stringify({ ...obj, [key]: "\u0000SPLICE\u0000" }).replace('"\\u0000SPLICE\\u0000"', valueText);
  const nearValid = fc.oneof(
    { weight: 5, arbitrary: fc.tuple(fc.constantFrom(...keys), badJsonValue).map(([k, v]) => splice(base, k, v)) },
    { weight: 1, arbitrary: fc.constantFrom(...keys).map((k) => JSON.stringify(Object.fromEntries(Object.entries(base).filter(([key]) => key !== k)))) },
    { weight: 1, arbitrary: fc.tuple(fc.stringMatching(/^[A-Za-z_$][\w$]{0,20}$/), badJsonValue).map(([k, v]) => splice(base, k, v)) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 40 }).map((cut) => JSON.stringify(base).slice(0, cut)) },
  );
  return fc.oneof(
    { weight: 8, arbitrary: nearValid },
    { weight: 3, arbitrary: badJsonValue },
    { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 300 }) },
    { weight: 1, arbitrary: fc.constant(`\ufeff${JSON.stringify(base)}`) },
    { weight: 1, arbitrary: fc.constantFrom("", " ", "\n", "\u0000", "{", "}", "[", "NaN", "undefined", "{'a':1}", '{"a":1,}', "{\"a\":1}{\"a\":2}") },
    { weight: 2, arbitrary: hugeText },
    { weight: 2, arbitrary: deepJson },
    { weight: 2, arbitrary: invalidUtf8 },
    { weight: 1, arbitrary: oversized },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) },
  );
}

/** Content types: right, nearly right, wrong, absent, garbage. */
export const contentType: fc.Arbitrary<string | null | undefined> = fc.oneof(
  { weight: 8, arbitrary: fc.constant(undefined) },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      null, "", "application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "application/json;", "application/json ; x=y", "application/json; charset=utf-16",
      "text/plain", "text/json", "application/jsonx", "application/x-json", "application/problem+json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=zz",
      "application/octet-stream", "*/*", "application/*", " application/json", "application/json\t",
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: "binary-ascii", maxLength: 60 }) },
);

/** HTTP methods: standard, odd case, unknown. */
export const anyMethod = fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "PROPFIND", "TRACE-X", "post", "Get");

/** How a call is signed: mostly right, sometimes each way it can be wrong. */
export const signMode = fc.oneof(
  { weight: 12, arbitrary: fc.constant("valid" as const) },
  { weight: 1, arbitrary: fc.constantFrom("none" as const, "garbage" as const, "stale" as const, "future" as const, "wrong-secret" as const, "wrong-path" as const) },
);

const encodeAll = (s: string) => [...utf8.encode(s)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join("");
const safeEncode = (s: string) => {
  try {
    return encodeURIComponent(s);
  } catch {
    return encodeAll(s.replace(/[\ud800-\udfff]/g, "?"));
  }
};

/** Tenant ids the host would never issue: traversal, encodings, unicode, control characters, too long, empty. */
export const oddTenantId: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      "..%2F..%2Fetc", "..%2f", "%2e%2e", "%2E%2E%2F%2E%2E", "..", ".", "...", "a%2Fb", "a%5Cb", "a\\b", "a/..", "a%2F..%2F..", "%00", "a%00", "a%20b", "a b",
      "%", "%ZZ", "a%", "%E0%A4%A", "%C0%AE%C0%AE", "é", "%C3%A9", "𝒜", "%F0%9F%92%A9", "💩", "a\u0301", "\u202eevil", "-x", "_x", "a..b", "a;b", "a,b", "a'b", 'a"b',
      "a<b>", "a?b=1", "a#b", "CON", "__proto__", "constructor", "a".repeat(65), "a".repeat(5_000), "", " ", "%09", "%0A", "a%0D%0Ab", "a\tb", "%25", "%2525",
      "*", "a*", "%2A", "a|b", "a:b", ":tenantId", "{tenantId}",
    ),
  },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 80 }).map(safeEncode) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 80 }) },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{64,300}$/) },
  // Valid ids, percent-encoded in part or in full: aliases of a tenant id the host did issue.
  { weight: 2, arbitrary: fc.tuple(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{1,20}$/), fc.nat()).map(([id, k]) => (k % 2 === 0 ? encodeAll(id) : `${encodeAll(id.slice(0, 1))}${id.slice(1)}`)) },
);

/** Query values: numbers at and past every bound, non-numbers, bad encodings, huge. */
const queryValue = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom("", "0", "-1", "1", "200", "201", "1e3", "1e309", "NaN", "Infinity", "-0", "0x10", "0b1", " 5", "5 ", "9007199254740993", "%ZZ", "%", "%00", "a%2Fb", "[]", "{}", "null", "failed", "delivered", "pending", "FAILED", "scheduled") },
  { weight: 2, arbitrary: fc.integer().map(String) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 30 }).map(safeEncode) },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 20_000 }).map((n) => "9".repeat(n)) },
);

/** A query string ("" or "?k=v&..."). */
export const queryString = fc
  .array(fc.tuple(fc.constantFrom("limit", "before", "state", "x", "limit[]", "__proto__", "LIMIT", "before%00"), queryValue), { maxLength: 4 })
  .map((pairs) => (pairs.length ? `?${pairs.map(([k, v]) => `${k}=${v}`).join("&")}` : ""));
