/** Secrets the Worker gets in tests: fixed, recognizable values so leak checks can search for them. */
export const TEST_SECRETS = {
  HOST_API_TOKEN: "dev-host-token",
  HOST_SIGNING_SECRET: "test-signing-secret-5f0c1e9a7b3d",
  // 32 bytes: "test-credentials-key-0123456789!" in base64.
  CREDENTIALS_KEY: "dGVzdC1jcmVkZW50aWFscy1rZXktMDEyMzQ1Njc4OSE=",
} as const;
