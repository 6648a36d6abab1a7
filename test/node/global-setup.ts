/**
 * Starts the two stand-ins the tests talk to, each a real Worker in workerd via wrangler:
 * the Cynet simulator and the dev host. Their ports reach the test config through `provide`.
 */
import type { TestProject } from "vitest/node";
import { startStandins } from "../../scripts/standins";
import type { StandinPorts } from "./outbound";

declare module "vitest" {
  export interface ProvidedContext {
    standins: StandinPorts;
  }
}

export default async function setup(project: TestProject) {
  const standins = await startStandins();
  project.provide("standins", { cynet: standins.cynet.port, host: standins.host.port });
  return async () => {
    await standins.stop();
  };
}
