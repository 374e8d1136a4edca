/** Payload checks shared by operation definitions (those the JSON schema cannot express). */
import { AppError } from "./errors.js";

/** Only the scheme is knowable from the payload; addresses are checked at connect time. */
export function checkHttpUrl(payload: Record<string, unknown>, field = "url"): void {
  let url: URL;
  try {
    url = new URL(String(payload.url));
  } catch {
    throw new AppError("invalid_payload", `"${field}" is not an absolute URL.`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new AppError("invalid_payload", `"${field}" must be an http or https URL, not ${url.protocol.replace(":", "")}.`);
  }
}
