/** Settings shared by every process through the database. */
import { createToken } from "@transmute/core";
import type { PrismaClient } from "@transmute/db";

/**
 * The link-signing secret: the operator's, or one generated at first boot and kept in the
 * database so that every process signs alike. Race-safe: the first insert wins.
 */
export async function loadSigningSecret(prisma: PrismaClient, configured: string | undefined): Promise<string> {
  if (configured) return configured;
  await prisma.setting.createMany({ data: [{ key: "link_secret", value: createToken(32) }], skipDuplicates: true });
  return (await prisma.setting.findUniqueOrThrow({ where: { key: "link_secret" } })).value;
}
