/**
 * The dev host's bundle catalog. A bundle is the host's product package; it lists the host's own
 * channels here, and a plugin channel (Cynet) joins a bundle when the plugin's manifest names
 * the bundle's id in `bundles` (host-contract.md §1).
 */
import { z } from "zod";

/** A bundle the host sells, with its built-in channels. */
export interface Bundle {
  id: string;
  name: string;
  description: string;
  /** The host's own channels in the bundle; plugin channels come from their manifests. */
  builtInChannels: string[];
}

/** Every bundle a tenant can be assigned. */
export const BUNDLES: readonly Bundle[] = [
  {
    id: "endpoint-protection",
    name: "Endpoint Protection",
    description: "Scanning of files from your endpoints, and the endpoint security tools that report to the event log.",
    builtInChannels: ["File Scanning"],
  },
  {
    id: "email-basics",
    name: "Email Basics",
    description: "Attachment scanning and user-reported phishing for your mailboxes.",
    builtInChannels: ["Email Attachment Scanning", "Phishing Reports"],
  },
];

/** A bundle id in a path. */
export const bundleIdSchema = z.enum(BUNDLES.map((b) => b.id) as [string, ...string[]]);

/** The bundle with this id, if any. */
export function findBundle(id: string): Bundle | undefined {
  return BUNDLES.find((b) => b.id === id);
}
