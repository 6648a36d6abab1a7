/**
 * The response actions the channel offers (host contract §2, "actions"): what each is called,
 * whether it acts on a file on named hosts or on a host, and the Cynet call that performs it
 * (cynet-api.md, "Response actions"). plugin.manifest.json declares the same list for the host to
 * render; test/manifest/manifest.test.ts holds the two together.
 *
 * @example
 * RESPONSE_ACTIONS.quarantine_file.targets; // "file"
 */
import { ACTION_KINDS } from "../storage/schema";

/** A response action's id, as the host names it. */
export type ActionKind = (typeof ACTION_KINDS)[number];

/** What one response action is. */
export interface ResponseAction {
  label: string;
  /** "file": a file (by SHA-256) on the named hosts; "host": the named hosts themselves. */
  targets: "file" | "host";
  /** Whether the host should ask the person to confirm: every action changes endpoints but verify. */
  confirmation: boolean;
  description: string;
  /** Cynet's path for it. */
  cynetPath: string;
}

/** Every action, by id. */
export const RESPONSE_ACTIONS: Readonly<Record<ActionKind, ResponseAction>> = {
  quarantine_file: { label: "Quarantine file", targets: "file", confirmation: true, description: "Cynet moves the file into quarantine on each named host.", cynetPath: "/api/file/remediation/quarantine" },
  kill_process: { label: "Kill process", targets: "file", confirmation: true, description: "Cynet ends the processes running the file on each named host.", cynetPath: "/api/file/remediation/kill" },
  delete_file: { label: "Delete file", targets: "file", confirmation: true, description: "Cynet deletes the file on each named host; it cannot be restored.", cynetPath: "/api/file/remediation/delete" },
  unquarantine_file: { label: "Restore from quarantine", targets: "file", confirmation: true, description: "Cynet restores the quarantined file on each named host.", cynetPath: "/api/file/remediation/unquarantine" },
  verify_file: { label: "Verify file", targets: "file", confirmation: false, description: "Cynet checks whether the file is on each named host; nothing is changed.", cynetPath: "/api/file/remediation/verify" },
  isolate_host: { label: "Isolate host", targets: "host", confirmation: true, description: "Cynet cuts each named host off the network, except from Cynet itself.", cynetPath: "/api/host/remediation/isolate" },
  release_host: { label: "Release host", targets: "host", confirmation: true, description: "Cynet ends the network isolation of each named host.", cynetPath: "/api/host/remediation/unisolate" },
};

/** The ids of the actions that act on a file, and of those that act on a host, in catalog order. */
export const FILE_ACTIONS = ACTION_KINDS.filter((a) => RESPONSE_ACTIONS[a].targets === "file");
export const HOST_ACTIONS = ACTION_KINDS.filter((a) => RESPONSE_ACTIONS[a].targets === "host");
