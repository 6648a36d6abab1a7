import { describe, expect, it } from "vitest";
import { normalizeOrgUrl } from "../../src/activation/org-url";

/** What admins really type, and what it must become. */
const accepted: Array<[string, string]> = [
  ["acme.cynet.com", "https://acme.api.cynet.com"],
  ["https://acme.cynet.com", "https://acme.api.cynet.com"],
  ["https://acme.cynet.com/", "https://acme.api.cynet.com"],
  ["https://acme.cynet.com/#/dashboard", "https://acme.api.cynet.com"],
  ["ACME.cynet.com/#/dashboard", "https://acme.api.cynet.com"],
  ["acme.cynet.com/#/dashboard", "https://acme.api.cynet.com"],
  ["https://acme.cynet.com/path/to/page?tab=alerts", "https://acme.api.cynet.com"],
  ["HTTPS://ACME.CYNET.COM", "https://acme.api.cynet.com"],
  ["https://acme.api.cynet.com", "https://acme.api.cynet.com"],
  ["acme.api.cynet.com", "https://acme.api.cynet.com"],
  ["https://acme.api.cynet.com/api", "https://acme.api.cynet.com"],
  ["Acme.Api.Cynet.Com/", "https://acme.api.cynet.com"],
  ["  https://acme.cynet.com  ", "https://acme.api.cynet.com"],
  ["\thttps://acme.cynet.com\n", "https://acme.api.cynet.com"],
  ["acme.cynet.com.", "https://acme.api.cynet.com"],
  ["//acme.cynet.com", "https://acme.api.cynet.com"],
  ["https://my-company.cynet.com", "https://my-company.api.cynet.com"],
  ["pt2024.cynet.com?x=1", "https://pt2024.api.cynet.com"],
  ["https://acme.cynet.com#/alerts", "https://acme.api.cynet.com"],
  ["https://acme.cynet.com\\dashboard", "https://acme.api.cynet.com"],
];

/** What must be refused: mistakes that cannot be fixed safely, and attacks on where credentials go. */
const refused: Array<[string, RegExp]> = [
  ["", /Enter your organization's URL/],
  ["   ", /Enter your organization's URL/],
  ["cynet.com", /own address/],
  ["https://cynet.com", /own address/],
  ["www.cynet.com", /own address/],
  ["api.cynet.com", /own address/],
  ["a.b.cynet.com", /own address/],
  ["acme.api.api.cynet.com", /own address/],
  ["http://acme.cynet.com", /https/],
  ["ftp://acme.cynet.com", /https/],
  ["javascript:alert(1)", /https/],
  ["acme.cynet.com.evil.io", /end in cynet\.com/],
  ["https://acme.cynet.com.evil.io/#/dashboard", /end in cynet\.com/],
  ["cynet.com.evil.io", /end in cynet\.com/],
  ["evilcynet.com", /end in cynet\.com/],
  ["acme.evilcynet.com", /end in cynet\.com/],
  ["acme.cynet.co", /end in cynet\.com/],
  ["acme.cynet.com@evil.io", /user name or password/],
  ["https://user:pass@acme.cynet.com", /user name or password/],
  ["https://acme.cynet.com:8443", /port/],
  ["acme.cynet.com:443", /port/],
  ["127.0.0.1", /IP address/],
  ["https://10.0.0.5/api", /IP address/],
  ["2130706433", /IP address/],
  ["0x7f000001", /IP address/],
  ["0x7f.0.0.1", /IP address/],
  ["0177.0.0.1", /IP address/],
  ["[::1]", /port or be an IPv6|letters a-z/],
  ["https://[::ffff:127.0.0.1]/", /port or be an IPv6|letters a-z/],
  ["xn--cynt-9na.com", /punycode/],
  ["acme.xn--cynet-z8a.com", /punycode/],
  ["xn--acme-xyz.cynet.com", /punycode/],
  ["acme.cynеt.com", /letters a-z/], // Cyrillic "е"
  ["аcme.cynet.com", /letters a-z/], // Cyrillic "а"
  ["acme.cynet.com\u200b", /letters a-z/], // zero-width space
  ["ac me.cynet.com", /spaces or control/],
  ["acme_corp.cynet.com", /letters a-z/],
  ["-acme.cynet.com", /not valid/],
  ["acme..cynet.com", /not valid/],
  ["localhost", /end in cynet\.com/],
  ["https://", /no host name/],
  ["https:///acme.cynet.com", /no host name/],
  [`${"a".repeat(64)}.cynet.com`, /not valid/],
  [`https://acme.cynet.com/${"x".repeat(3000)}`, /too long/],
];

describe("normalizeOrgUrl", () => {
  it("has a table of at least 40 cases", () => {
    expect(accepted.length + refused.length).toBeGreaterThanOrEqual(40);
  });

  for (const [input, url] of accepted) {
    it(`accepts ${JSON.stringify(input)} as ${url}`, () => {
      expect(normalizeOrgUrl(input)).toEqual({ ok: true, url, label: new URL(url).hostname.split(".")[0] });
    });
  }

  for (const [input, reason] of refused) {
    it(`refuses ${JSON.stringify(input.length > 80 ? `${input.slice(0, 40)}…` : input)}`, () => {
      const result = normalizeOrgUrl(input);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.reason).toMatch(reason);
    });
  }

  it("only ever produces https://<label>.api.cynet.com", () => {
    for (const [input] of accepted) {
      const result = normalizeOrgUrl(input);
      if (result.ok) expect(result.url).toMatch(/^https:\/\/[a-z0-9-]+\.api\.cynet\.com$/);
    }
  });
});
