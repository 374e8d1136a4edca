/** The FreeConvert-Signature: hex HMAC-SHA256 of the raw body, as PHP's hash_hmac('sha256', $payload, $secret). */
import { describe, expect, it } from "vitest";
import { signWebhookBody } from "../src/webhook-delivery.js";

describe("signWebhookBody", () => {
  it.each<[string, string, string]>([
    // RFC 4231 test case 2.
    ["what do ya want for nothing?", "Jefe", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"],
    ["", "key", "5d5d139563c95b5967b9bd9a8c9b233a9dedb45072794cd232dc1b74832607d0"],
  ])("signs %j with %j", (body, secret, expected) => {
    expect(signWebhookBody(body, secret)).toBe(expected);
  });
});
