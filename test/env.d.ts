/** Bindings the tests add to the Worker's Env. */
import type { Env as WorkerEnv } from "../src/env";

declare global {
  namespace Cloudflare {
    interface Env extends WorkerEnv {
      TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
      /** A second database (vitest.config.ts), which tests list beside DB in TENANT_DATABASES. */
      DB_2: D1Database;
    }
    interface GlobalProps {
      mainModule: typeof import("../src/index");
    }
  }
}
export {};
