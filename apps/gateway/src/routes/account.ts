/** The account of the key, in FreeConvert's User shape (its id names the realtime channels). */
import { AppError } from "@transmute/core";
import type { FastifyInstance } from "fastify";
import { commonErrors } from "../schemas.js";
import type { GatewayDeps } from "../types.js";

/** Registers GET /v1/account/me. */
export function accountRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  app.get("/v1/account/me", {
    schema: { summary: "Show the account of the API key", response: { 200: { $ref: "User#" }, ...commonErrors } },
    handler: async (request) => {
      const account = await deps.engine.prisma.account.findUnique({ where: { id: request.accountId } });
      if (!account) throw new AppError("unauthorized", "Invalid API key.");
      return {
        id: account.id,
        email: account.email,
        name: account.name,
        role: "user",
        interface: "api",
        parent: "",
        team: account.id,
        teamRole: "OWNER",
        createdAt: account.createdAt.toISOString(),
      };
    },
  });
}
