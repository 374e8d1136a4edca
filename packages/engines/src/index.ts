export type {
  ArchiveLimits, CaptureFetchRequest, CaptureFetchResponse, CaptureRequest, CaptureResult, CompressRequest, CompressResult, ConversionPair,
  ConvertContext, ConvertLimits, ConvertRequest, ConvertResult, Engine, EngineProbe, EngineRegistry, EngineStatus, ExtractRequest, ExtractResult,
  MergeRequest, MergeResult, OutputFile, SecureRequest, SecureResult,
} from "./engine.js";
export { loadEngineRegistry } from "./engine.js";
export type { ProcessPool, ProcessPoolOptions, ProcessPoolStats, RunOptions } from "./process-pool.js";
export { createProcessPool } from "./process-pool.js";
export type { ConvertImageRequest, ConvertImageResult, ImageLimits } from "./convert-image.js";
export type { ImageConvertResult, ImageEngine, ImageEngineOptions } from "./image-engine.js";
export { createImageEngine, probeImageEngine } from "./image-engine.js";
export type { PdfEngine, PdfEngineOptions } from "./pdf-engine.js";
export { createPdfEngine, probePdfEngine } from "./pdf-engine.js";
export type { GhostscriptEngine, GhostscriptEngineOptions } from "./ghostscript-engine.js";
export { createGhostscriptEngine, ghostscriptArgs, probeGhostscript } from "./ghostscript-engine.js";
export type { RunToolOptions, ToolRun } from "./run-tool.js";
export { canIsolateNetwork, runTool, TOOL_PATH } from "./run-tool.js";
export type { PopplerEngineOptions } from "./poppler-engine.js";
export { createPopplerEngine, probePoppler } from "./poppler-engine.js";
export type { OfficeEngineOptions } from "./office-engine.js";
export { createOfficeEngine, officeArgs, probeOffice } from "./office-engine.js";
export type { OfficeInputInfo } from "./office-inspect.js";
export { inspectOfficeInput } from "./office-inspect.js";
export type { BrowserEngine, BrowserEngineOptions } from "./browser-engine.js";
export { createBrowserEngine, probeBrowser } from "./browser-engine.js";
export { CHROMIUM_ARGS, resolveChromium } from "./browser-launch.js";
export type { MediaEngine, MediaEngineOptions } from "./media-engine.js";
export { createMediaEngine, probeMedia } from "./media-engine.js";
export { compressArgs, convertArgs } from "./media-args.js";
export type { ArchiveEngine, ArchiveEngineOptions } from "./archive-engine.js";
export { createArchiveEngine, probeArchive, uniqueNames } from "./archive-engine.js";
export { DEFAULT_ARCHIVE_LIMITS } from "./archive-guard.js";
export type { SecureEngine, SecureEngineOptions } from "./secure-engine.js";
export { createSecureEngine, probeSecure, SECURE_IMAGE_FORMATS } from "./secure-engine.js";
export type { JpegFrame, PdfStreamWriter } from "./pdf-stream-writer.js";
export { createPdfStreamWriter, readJpegFrame } from "./pdf-stream-writer.js";
export type { SecureArchiveRequest, SecureArchiveResult } from "./secure-archive.js";
export { secureArchive } from "./secure-archive.js";
