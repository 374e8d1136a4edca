// Prisma CLI configuration. Transmute itself never reads this file: the runtime builds its
// client with a driver adapter (packages/db), and migrations are applied by the boot runner.
import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
});
