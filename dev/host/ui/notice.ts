/**
 * The notice shown once after an action ("Connected to Cynet", "Sync queued"). It travels in a
 * short-lived, HttpOnly, SameSite=Strict cookie the dev host sets itself, never in the URL: a
 * link cannot put words on the page, and a reload does not show the notice again.
 */
import type { Context } from "hono";
import { deleteCookie, generateCookie, getCookie } from "hono/cookie";
import { z } from "zod";
import type { Notice } from "./layout";

/** The cookie's name. */
const NOTICE_COOKIE = "devhost_notice";
/** Long enough for the redirect that follows the action, short enough not to surprise anyone later. */
const NOTICE_MAX_AGE_SECONDS = 60;
/** Longest notice text: a few sentences, well under a cookie's 4 KB once encoded. */
const MAX_NOTICE_LENGTH = 600;

const noticeSchema = z.object({
  tone: z.enum(["ok", "error"]),
  text: z.string().min(1).max(MAX_NOTICE_LENGTH),
  /** Set after Connect or Sync now: the page keeps the channel row live until a sync has run since then. */
  watchSince: z.iso.datetime().optional(),
});

/** A notice, and when the action that caused it asked for a sync. */
export type Flash = z.infer<typeof noticeSchema>;

const toBase64Url = (s: string) => btoa(String.fromCharCode(...new TextEncoder().encode(s))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const fromBase64Url = (s: string) => new TextDecoder().decode(Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (ch) => ch.charCodeAt(0)));

/** The Set-Cookie value that makes the next page show `notice`. */
export function noticeCookie(notice: Notice & { watchSince?: string }): string {
  const text = notice.text.length > MAX_NOTICE_LENGTH ? `${notice.text.slice(0, MAX_NOTICE_LENGTH - 1)}…` : notice.text;
  const value = toBase64Url(JSON.stringify({ ...notice, text }));
  return generateCookie(NOTICE_COOKIE, value, { path: "/", httpOnly: true, sameSite: "Strict", maxAge: NOTICE_MAX_AGE_SECONDS });
}

/** Sets the notice the next page shows (on the response `c` builds next, e.g. a redirect). */
export function setNotice(c: Context, notice: Notice & { watchSince?: string }): void {
  c.header("set-cookie", noticeCookie(notice), { append: true });
}

/** Reads the notice once (and clears it); anything malformed is dropped, not shown. */
export function takeNotice(c: Context): Flash | null {
  const value = getCookie(c, NOTICE_COOKIE);
  if (value === undefined) return null;
  deleteCookie(c, NOTICE_COOKIE, { path: "/" });
  try {
    const parsed = noticeSchema.safeParse(JSON.parse(fromBase64Url(value)));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
