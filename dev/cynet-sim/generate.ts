import type { AlertFile, SimAlert } from "./alert";
import { Draw } from "./prng";

/** ClientDbId of the first generated alert: realistic six-digit ids. */
export const FIRST_CLIENT_DB_ID = 100_000;
/** Days before the epoch that generated alerts spread over. */
export const HISTORY_DAYS = 20;
const DAY_MS = 86_400_000;
/** Alerts per distinct file, so one hash shows up on several endpoints. */
const ALERTS_PER_FILE = 3;
/** Alerts per endpoint, so endpoints repeat too. */
const ALERTS_PER_HOST = 8;
/** Fewest endpoints a world has, so even tiny worlds vary. */
const MIN_HOSTS = 3;
/** Share of alerts that are file alerts with `AlertType: 0`. */
const TYPED_FILE_SHARE = 0.6;
/** Share of alerts shaped like the public fixture (no AlertType, no Status). */
const FIXTURE_FILE_SHARE = 0.1;
/** Share of typed file alerts whose hash is invalid (≈3% of file alerts). */
const INVALID_HASH_SHARE = 0.035;
/** Share of files whose SHA-1 Cynet leaves empty. */
const EMPTY_SHA1_SHARE = 0.2;
/** Share of hashes sent in upper case. */
const UPPER_CASE_SHARE = 0.4;
/**
 * Share of generated files Cynet lists as whitelisted: none, since a whitelisted file's alerts
 * stop counting (a later decision); a test whitelists a file through the control API. The draw
 * is still made, so every seed's worlds stay as they were.
 */
const WHITELISTED_SHARE = 0;
/** Share of alerts missing each optional field. */
const MISSING_FIELD_SHARE = 0.1;
/** Lowest file risk level: Cynet alerts on files it rates at least medium risk. */
const MIN_RISK_LEVEL = 50;
/** Highest file risk level. */
const MAX_RISK_LEVEL = 100;
/** Most antivirus engines flagging a file: about the engine count of a multi-scanner. */
const MAX_AV_DETECTIONS = 70;
/** Most endpoints a file alert reports the file on. */
const MAX_FILE_ENDPOINTS = 20;
/** HostId of the first endpoint: realistic four-digit ids. */
const FIRST_HOST_ID = 5_000;
/** Hex lengths of the values drawn: the three hashes, Cynet's Uniqueness key, ids and names. */
const HEX = { sha256: 64, md5: 32, sha1: 40, uniqueness: 32, malwareId: 8, domain: 10, urlPath: 6 } as const;
/** Where a typed file alert carries its hash: half in Sha256, 30% in Sha256Hex, 20% only in File.Sha256. */
const HASH_PLACES = ["Sha256", "Sha256", "Sha256", "Sha256", "Sha256", "Sha256Hex", "Sha256Hex", "Sha256Hex", "File", "File"] as const;

const SEVERITIES = [1, 2, 3, 4, 5, 99] as const;
/** Status 0 Open weighted up, as in a live console; null means the field is absent. */
const STATUSES = [0, 0, 0, 0, 1, 1, 2, 3, null] as const;
const FILE_NAMES = [
  "invoice_2026.pdf.exe", "setup.exe", "svch0st.exe", "update.ps1", "payload.dll", "readme.js",
  "chrome_installer.exe", "mimikatz.exe", "loader.bat", "report.docm", "teams_update.msi", "7z_crack.exe",
] as const;
const FOLDERS = ["Downloads", "AppData\\Local\\Temp", "Desktop", "AppData\\Roaming"] as const;
const USERS = ["jdoe", "asmith", "mlopez", "kchen", "svc_backup", "rpatel"] as const;
const FILE_INCIDENTS = [
  "Detection Engine - Malicious Binary - Infected File",
  "AV - Malicious File Detected",
  "Memory Pattern - Malicious Binary Executed",
] as const;
const MALWARE_TYPES = ["Trojan", "Ransomware", "Backdoor", "Worm", "Riskware"] as const;
const AV_NAMES = ["", "Windows Defender: Trojan:Win32/Wacatac", "Kaspersky: HEUR:Trojan.Win32.Generic"] as const;
const NETWORK_KINDS = [
  { type: 1, incident: "Network - Malicious Domain Access" },
  { type: 2, incident: "Network - Connection To Malicious IP" },
  { type: 3, incident: "Network - Malicious URL Accessed" },
] as const;

/** A file of the simulated tenant, as `full/file` describes it. */
export interface SimFile {
  sha256: string;
  md5: string;
  sha1: string;
  fileName: string;
  path: string;
  firstSeen: string;
  riskLevel: number;
  avDetections: number;
  whitelisted: boolean;
}

interface Host {
  name: string;
  ip: string;
  id: number;
  user: string;
}

/** What one generation produces. */
export interface Generated {
  alerts: SimAlert[];
  files: SimFile[];
}

const iso = (ms: number): string => new Date(ms).toISOString();
const isoOffset = (ms: number): string => iso(ms).replace(/\.\d{3}Z$/, "+00:00");
const toSecond = (ms: number): number => Math.floor(ms / 1000) * 1000;

function makeFile(d: Draw, start: number, end: number): SimFile {
  const fileName = d.pick(FILE_NAMES);
  return {
    sha256: d.hex(HEX.sha256),
    md5: d.hex(HEX.md5),
    sha1: d.chance(EMPTY_SHA1_SHARE) ? "" : d.hex(HEX.sha1),
    fileName,
    path: `C:\\Users\\${d.pick(USERS)}\\${d.pick(FOLDERS)}\\${fileName}`,
    firstSeen: iso(toSecond(start + d.next() * (end - start))),
    riskLevel: MIN_RISK_LEVEL + d.int(MAX_RISK_LEVEL - MIN_RISK_LEVEL + 1),
    avDetections: d.int(MAX_AV_DETECTIONS + 1),
    whitelisted: d.chance(WHITELISTED_SHARE),
  };
}

function makeHost(d: Draw, index: number): Host {
  return {
    name: `WKS-${String(index + 1).padStart(4, "0")}`,
    ip: `10.${d.int(256)}.${d.int(256)}.${1 + d.int(254)}`,
    id: FIRST_HOST_ID + index,
    user: `ACME\\${d.pick(USERS)}`,
  };
}

/** Spoils a hash one of the ways seen in the field: a character short, non-hex, or empty. */
function breakHash(d: Draw, hash: string): string {
  const way = d.int(3);
  if (way === 0) return hash.slice(0, 63);
  if (way === 1) return `${hash.slice(0, 60)}zzzz`;
  return "";
}

function fileObject(d: Draw, file: SimFile, hash: string, dateIn: string, lastSeen: string): AlertFile {
  return {
    Sha256: hash,
    CommonFileName: file.fileName,
    RiskLevel: file.riskLevel,
    VtRiskLevel: d.int(MAX_AV_DETECTIONS + 1),
    Antivirus: d.pick(AV_NAMES),
    EndPoints: 1 + d.int(MAX_FILE_ENDPOINTS),
    DateIn: dateIn,
    LastSeen: lastSeen,
  };
}

function typedFileAlert(d: Draw, base: SimAlert, file: SimFile): SimAlert {
  const upper = d.chance(UPPER_CASE_SHARE);
  const valid = upper ? file.sha256.toUpperCase() : file.sha256;
  const hash = d.chance(INVALID_HASH_SHARE) ? breakHash(d, valid) : valid;
  const place = d.pick(HASH_PLACES);
  const status = d.pick(STATUSES);
  const withFile = place === "File" || !d.chance(MISSING_FIELD_SHARE);
  const withPath = !d.chance(MISSING_FIELD_SHARE);
  const description = { "Extra Info": { "Malware ID": d.hex(HEX.malwareId), "Malware Type": d.pick(MALWARE_TYPES), "Detection Engine": "AV" } };
  return {
    ...base,
    AlertType: 0,
    ...(status === null ? {} : { Status: status }),
    ...(place === "Sha256" ? { Sha256: hash } : place === "Sha256Hex" ? { Sha256Hex: hash } : {}),
    ...(withPath ? { Path: file.path } : {}),
    ...(withFile ? { File: fileObject(d, file, hash, base.DateIn ?? "", base.LastSeenUtc) } : {}),
    IncidentName: d.pick(FILE_INCIDENTS),
    IncidentJsonDescription: JSON.stringify(description),
  };
}

function fixtureFileAlert(d: Draw, base: SimAlert, file: SimFile, firstMs: number): SimAlert {
  const hash = file.sha256.toUpperCase();
  const parent = d.hex(HEX.sha256).toUpperCase();
  const description = {
    "Extra Info": {
      Sha256: parent,
      "Infected file SHA256": hash,
      "Malware Type": d.pick(MALWARE_TYPES),
      "Detection Engine": "Static Analysis AI",
    },
    "Parent Process Details": { "Process SHA256": parent, "Process Name": "explorer.exe" },
  };
  return {
    ...base,
    DateIn: isoOffset(firstMs),
    Sha256Hex: hash,
    Path: file.path,
    File: fileObject(d, file, hash, isoOffset(firstMs), base.LastSeenUtc),
    IncidentName: FILE_INCIDENTS[0],
    IncidentJsonDescription: JSON.stringify(description),
  };
}

function networkAlert(d: Draw, base: SimAlert): SimAlert {
  const kind = d.pick(NETWORK_KINDS);
  const target = `${d.hex(HEX.domain)}.example`;
  return {
    ...base,
    AlertType: kind.type,
    Status: d.pick([0, 1, 2, 3]),
    ...(kind.type === 1 ? { Domain: target } : kind.type === 2 ? { RemoteIp: `203.0.113.${1 + d.int(254)}` } : { Url: `http://${target}/${d.hex(HEX.urlPath)}` }),
    IncidentName: kind.incident,
  };
}

function makeAlert(d: Draw, id: number, files: SimFile[], hosts: Host[], start: number, end: number): SimAlert {
  const host = d.pick(hosts);
  const firstMs = toSecond(start + d.next() * (end - start));
  const lastMs = toSecond(firstMs + d.next() * (end - firstMs));
  const first = iso(firstMs);
  const last = iso(lastMs);
  const base: SimAlert = {
    ClientDbId: id,
    Uniqueness: d.hex(HEX.uniqueness),
    HostName: host.name,
    HostIp: d.chance(MISSING_FIELD_SHARE) ? null : host.ip,
    HostId: host.id,
    ...(d.chance(MISSING_FIELD_SHARE) ? {} : { UserName: host.user }),
    DateIn: first,
    FirstSeenUtc: first,
    LastSeenUtc: last,
    LastSeen: last,
    DateChanged: last,
    Severity: d.pick(SEVERITIES),
  };
  const kind = d.next();
  if (kind < TYPED_FILE_SHARE) return typedFileAlert(d, base, d.pick(files));
  if (kind < TYPED_FILE_SHARE + FIXTURE_FILE_SHARE) return fixtureFileAlert(d, base, d.pick(files), firstMs);
  return networkAlert(d, base);
}

/** Generates `count` alerts with ids from `firstId`, timed within [start, end] (ms), over a fresh file pool. */
export function generateBatch(seed: number, firstId: number, count: number, start: number, end: number): Generated {
  const d = new Draw(seed);
  const files = Array.from({ length: Math.max(1, Math.ceil(count / ALERTS_PER_FILE)) }, () => makeFile(d, start, end));
  const hosts = Array.from({ length: Math.max(MIN_HOSTS, Math.ceil(count / ALERTS_PER_HOST)) }, (_, i) => makeHost(d, i));
  const alerts = Array.from({ length: count }, (_, i) => makeAlert(d, firstId + i, files, hosts, start, end));
  return { alerts, files };
}

/** The world's initial alerts and files: a pure function of (seed, count, epoch in ms). */
export function generateAlerts(seed: number, count: number, epochMs: number): Generated {
  return generateBatch(seed, FIRST_CLIENT_DB_ID, count, epochMs - HISTORY_DAYS * DAY_MS, epochMs);
}

/** A file record for a hash an appended alert brought in, derived from the hash alone. */
export function fileForHash(sha256: string, fileName: string, path: string, firstSeen: string): SimFile {
  const d = new Draw(Number.parseInt(sha256.slice(0, 8), 16));
  return {
    sha256,
    md5: d.hex(HEX.md5),
    sha1: d.hex(HEX.sha1),
    fileName,
    path,
    firstSeen,
    riskLevel: MIN_RISK_LEVEL + d.int(MAX_RISK_LEVEL - MIN_RISK_LEVEL + 1),
    avDetections: d.int(MAX_AV_DETECTIONS + 1),
    whitelisted: false,
  };
}
