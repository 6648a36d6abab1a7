/** Bounds of a response action that more than its route reads (the IR request's offer too). */

/** Most hosts one action may name: a response to one incident, not a fleet-wide sweep (that is Cynet's console's job). */
export const MAX_HOSTS_PER_ACTION = 20;
