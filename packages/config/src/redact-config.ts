/** A copy of the configuration that is safe to log. */
import type { Config } from "./config.js";

/** Config with the API key, the secret, the S3 store's credentials and passwords in service URLs replaced by "REDACTED", for the boot log. */
export function redactConfig(config: Config): Record<string, unknown> {
  return {
    ...config,
    apiKey: config.apiKey === undefined ? undefined : "REDACTED",
    secret: config.secret === undefined ? undefined : "REDACTED",
    databaseUrl: redactUrl(config.databaseUrl),
    redisUrl: redactUrl(config.redisUrl),
    storage: config.storage.driver === "s3" ? { ...config.storage, accessKeyId: "REDACTED", secretAccessKey: "REDACTED" } : config.storage,
  };
}

function redactUrl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    const url = new URL(value);
    if (url.password) url.password = "REDACTED";
    // Query parameters of database URLs can carry credentials too (sslpassword, password).
    for (const name of [...url.searchParams.keys()]) {
      if (/pass|secret|token|key/i.test(name)) url.searchParams.set(name, "REDACTED");
    }
    return url.toString();
  } catch {
    return "REDACTED";
  }
}
