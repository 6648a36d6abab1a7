/**
 * The malicious files among raw Cynet alerts, by the rule in cynet-api.md, written
 * independently of src/ so tests and the soak check the plugin against their own reading.
 * Plain TypeScript with no imports: workerd tests and Node scripts both use it.
 */
export function expectedDetections(alerts: Record<string, unknown>[]): Map<number, string> {
  const out = new Map<number, string>();
  for (const a of alerts) {
    const id = a.ClientDbId;
    if (typeof id !== "number") continue;
    if (a.AlertType !== undefined && a.AlertType !== null && a.AlertType !== 0) continue;
    const file = (a.File ?? {}) as Record<string, unknown>;
    const hash = [a.Sha256, a.Sha256Hex, file.Sha256]
      .filter((h): h is string => typeof h === "string" && h.trim() !== "")
      .map((h) => h.trim().toLowerCase())
      .find((h) => /^[0-9a-f]{64}$/.test(h));
    if (!hash || a.Status === 2) continue;
    out.set(id, hash);
  }
  return out;
}
