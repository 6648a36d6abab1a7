import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { routeOutbound } from "./test/node/outbound.ts";
import { TEST_SECRETS } from "./test/node/secrets.ts";

/** The host API the Worker under test calls (routed to the dev host by routeOutbound). */
const TEST_HOST_API_URL = "https://host.test";

// wrangler.toml's [secrets] required names: wrangler warns, once per test file, about any it
// finds neither in .dev.vars nor in the environment. The tests' values are the ones bound below.
for (const [name, value] of Object.entries({ ...TEST_SECRETS, HOST_API_URL: TEST_HOST_API_URL })) process.env[name] ??= value;

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
  return {
    plugins: [
      cloudflareTest(({ inject }) => ({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: {
            ...TEST_SECRETS,
            HOST_API_URL: TEST_HOST_API_URL,
            // Tests call Cynet by its real host names; a developer's .dev.vars must not redirect them.
            CYNET_ORIGIN_OVERRIDE: "",
            TEST_MIGRATIONS: migrations,
          },
          // A second database beside wrangler.toml's DB, for the tests of tenants spread over two
          // (test/storage/directory.test.ts lists both in TENANT_DATABASES); migrated as DB is.
          d1Databases: { DB_2: "cynet-channel-2" },
          // Every outbound fetch of the Worker under test goes through here: Cynet hosts to the
          // simulator, the host API to the dev host, anything else fails loudly.
          outboundService: routeOutbound(inject("standins")),
        },
      })),
    ],
    test: {
      globalSetup: ["./test/node/global-setup.ts"],
      setupFiles: ["./test/setup/apply-migrations.ts"],
      include: ["test/**/*.test.ts"],
      exclude: ["test/node/**", "test/e2e/**", "node_modules/**"],
      // The Worker's info lines (invocation metrics, sync results) would bury the failures; warnings and errors still show.
      onConsoleLog: (log: string) => !log.includes('"level":"info"'),
      testTimeout: 60_000,
      hookTimeout: 60_000,
    },
  };
});
