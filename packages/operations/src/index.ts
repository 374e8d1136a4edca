export type {
  OperationContext, OperationHandler, OperationOutcome, OperationLimits, InputFile, ImageConverter, Compressor, Merger, Converter, Extractor, PageCapturer,
  ConversionLimits, EngineCallOptions, EngineOutputFile, Securer,
} from "./context.js";
export { OutputSink, identifyStored, type SinkFile } from "./output-sink.js";
export { HANDLERS, missingHandlers } from "./registry.js";
export { stageBase64File } from "./stage-base64.js";
export * from "./names.js";
export { setKnownHosts } from "./sftp-client.js";
