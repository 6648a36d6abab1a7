/**
 * The one Workers global that dev/ code reached from the bench's Node scripts names:
 * dev/shared/faults.ts waits with `scheduler.wait` when a simulated fault adds a delay. The
 * bench's Node Cynet (./fast-cynet-server.ts) applies no faults, so Node never calls it; it is
 * declared only so that tsconfig.node.json can type-check the import of the simulator's world.
 */
declare const scheduler: { wait(ms: number): Promise<void> };
