/**
 * The Organization's URL an admin types, made into the one base URL the plugin will send
 * credentials to: `https://<label>.api.cynet.com`, nothing else.
 *
 * @example
 * normalizeOrgUrl("ACME.cynet.com/#/dashboard") // { ok: true, url: "https://acme.api.cynet.com" }
 * normalizeOrgUrl("cynet.com.evil.io")           // { ok: false, reason: "..." }
 */

/** Most a console address can sensibly be; longer input is refused before any parsing. */
export const MAX_ORG_URL_LENGTH = 2048;
/** One DNS label: letters, digits and inner hyphens, at most 63 characters (RFC 1035). */
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** Cynet's SaaS domain, the only registrable domain credentials may go to. */
const CYNET_DOMAIN = "cynet.com";

export type OrgUrlResult = { ok: true; url: string; label: string } | { ok: false; reason: string };

const refuse = (reason: string): OrgUrlResult => ({ ok: false, reason });

/** Normalizes an admin-typed console or API address to `https://<label>.api.cynet.com`, or says why it cannot. */
export function normalizeOrgUrl(input: string): OrgUrlResult {
  const typed = input.trim();
  if (typed === "") return refuse("Enter your organization's URL in Cynet, e.g. https://yourcompany.api.cynet.com.");
  if (typed.length > MAX_ORG_URL_LENGTH) return refuse("That URL is too long to be a Cynet address.");
  // Control characters and inner whitespace have no place in a host name; refuse rather than guess.
  if (/[\s\u0000-\u001f\u007f]/.test(typed)) return refuse("The URL contains spaces or control characters.");

  const schemeMatch = /^([a-z][a-z0-9+.-]*):\/\//i.exec(typed);
  if (schemeMatch && schemeMatch[1]!.toLowerCase() !== "https") {
    return refuse("Use an https:// address: the plugin sends your Cynet credentials to it.");
  }
  if (!schemeMatch && /^[a-z][a-z0-9+.-]*:(?!\d)/i.test(typed)) {
    return refuse("Use an https:// address: the plugin sends your Cynet credentials to it.");
  }
  const rest = schemeMatch ? typed.slice(schemeMatch[0].length) : typed.replace(/^\/\//, "");

  // The authority ends at the first "/", "?", "#" or "\" (browsers treat "\" as "/").
  const authority = rest.split(/[/?#\\]/, 1)[0] ?? "";
  if (authority.includes("@")) return refuse("The URL must not contain a user name or password.");
  if (/:/.test(authority)) return refuse("The URL must not name a port or be an IPv6 address.");
  if (authority === "") return refuse("The URL has no host name.");

  const host = authority.toLowerCase().replace(/\.$/, "");
  // Only plain ASCII host names: punycode ("xn--") and non-ASCII look-alikes are refused outright.
  if (!/^[a-z0-9.-]+$/.test(host)) return refuse("The host name may hold only letters a-z, digits, dots and hyphens.");
  const labels = host.split(".");
  if (labels.some((l) => l.startsWith("xn--"))) return refuse("Internationalized (punycode) host names are not Cynet addresses.");
  if (labels.every((l) => /^(?:0x[0-9a-f]*|\d+)$/.test(l))) return refuse("An IP address is not a Cynet address; use your organization's cynet.com URL.");
  if (!labels.every((l) => LABEL.test(l))) return refuse("The host name is not valid.");

  // Everything right of cynet.com was dropped with the path; now the host itself must end in it.
  if (!(host === CYNET_DOMAIN || host.endsWith(`.${CYNET_DOMAIN}`))) {
    return refuse("Cynet addresses end in cynet.com, e.g. https://yourcompany.api.cynet.com.");
  }
  const sub = labels.slice(0, -2);
  const label = sub.length === 2 && sub[1] === "api" ? sub[0] : sub.length === 1 ? sub[0] : undefined;
  if (label === undefined || label === "api" || label === "www") {
    return refuse("Use your organization's own address, like https://yourcompany.cynet.com or https://yourcompany.api.cynet.com.");
  }
  return { ok: true, url: `https://${label}.api.${CYNET_DOMAIN}`, label };
}
