import type { PluginEnv } from "./plugin";
import type { HostState } from "./state";

/** Bindings of the dev host worker. */
export interface Env extends PluginEnv {
  HOST_STATE: DurableObjectNamespace<HostState>;
  HOST_API_TOKEN: string;
}
