/**
 * Who is signed in to the dev host. The dev host has no login; a real host knows its user, and
 * names them as the `actor` of the calls they make (host contract §2), so the dev host does the
 * same with one fixed analyst.
 */
export const SIGNED_IN_USER = { id: "ana.lyst@acme.example", name: "Ana Lyst" } as const;
