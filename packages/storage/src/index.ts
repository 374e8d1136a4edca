export type { BlobStore, ByteRange, MaterializeOptions, PutOptions, PutResult } from "./blob-store.js";
export { assertValidKey, buildKey, explainInvalidKey, MAX_KEY_LENGTH, normalizePrefix } from "./keys.js";
export { createLocalDiskStore, type LocalDiskStore, type LocalDiskStoreOptions } from "./local-disk-store.js";
export { createScratchDir, SCRATCH_PREFIX, sweepScratch, type ScratchDir } from "./scratch.js";
export { createS3Store, type S3Store, type S3StoreOptions } from "./s3-store.js";
export { createS3Client, S3_CONNECT_TIMEOUT_MS, S3_IDLE_TIMEOUT_MS, type S3ClientSettings } from "./s3-client.js";
