-- CreateTable
CREATE TABLE "FilewallFile" (
    "uid" UUID NOT NULL,
    "accountId" UUID NOT NULL,
    "keyHash" TEXT NOT NULL,
    "jobId" UUID,
    "slotId" TEXT,
    "sourceName" TEXT NOT NULL DEFAULT '',
    "sourceSize" BIGINT NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "tombstoneSeconds" INTEGER NOT NULL,
    "purgeAt" TIMESTAMPTZ(3),

    CONSTRAINT "FilewallFile_pkey" PRIMARY KEY ("uid")
);

-- CreateIndex
CREATE UNIQUE INDEX "FilewallFile_slotId_key" ON "FilewallFile"("slotId");

-- CreateIndex
CREATE INDEX "FilewallFile_accountId_createdAt_idx" ON "FilewallFile"("accountId", "createdAt");

-- CreateIndex
CREATE INDEX "FilewallFile_keyHash_idx" ON "FilewallFile"("keyHash");

-- CreateIndex
CREATE INDEX "FilewallFile_jobId_idx" ON "FilewallFile"("jobId");

-- CreateIndex
CREATE INDEX "FilewallFile_purgeAt_idx" ON "FilewallFile"("purgeAt");
