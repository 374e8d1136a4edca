/**
 * What `/query/view/options` lists: the output formats an operation can make from an input
 * format right now. Each candidate goes through the same checks a real task meets (payload
 * validation at creation, then routing by the live worker registrations when it becomes ready),
 * so the list never names a target that would fail, and follows new operations and engines as
 * they are registered instead of a list kept here.
 */
import { AppError, FORMATS, OPERATIONS, findFormat, normalizeFormat, validateTaskPayload, type FormatFamily } from "@transmute/core";
import type { PrismaClient } from "@transmute/db";
import { routeTask } from "./routing.js";
import type { Tx } from "./tx.js";

/** One target as FreeConvert lists it. */
export interface TargetFormat {
  name: string;
  slug: string;
  ext: string;
  type: FormatFamily;
  device: boolean;
}

/** The answer of the options query: the input's family (null when unknown) and the targets by family. */
export interface OperationOptions {
  type: FormatFamily | null;
  targets: Partial<Record<FormatFamily, TargetFormat[]>>;
}

/** Operations that take an `output_format`: the only ones with targets to list. */
export function listTargetOperations(): string[] {
  return [...OPERATIONS.values()]
    .filter((op) => Object.hasOwn((op.payloadSchema.properties ?? {}) as object, "output_format"))
    .map((op) => op.name);
}

/**
 * The targets of `operation` for input `inputFormat`, computed from the operation registry, the
 * format catalog and the live worker registrations. An input format outside the catalog has no
 * targets; an operation without `output_format` is a 400 naming the ones that have one.
 */
export async function listOperationOptions(prisma: PrismaClient, operation: string, inputFormat: string, staleAfterSeconds: number): Promise<OperationOptions> {
  const operations = listTargetOperations();
  if (!OPERATIONS.has(operation)) {
    throw new AppError("unknown_operation", `operation "${operation}" is unknown; valid values: ${operations.join(", ")}.`);
  }
  if (!operations.includes(operation)) {
    throw new AppError("invalid_request", `operation "${operation}" has no output formats to list; valid values: ${operations.join(", ")}.`);
  }
  const input = findFormat(inputFormat);
  if (!input || input.detectOnly) return { type: null, targets: {} };
  const from = normalizeFormat(input.ext);
  // An operation that runs whatever output_format says (compress) keeps the input's format: its
  // one possible target is the input's own format.
  const keepsFormat = await canProduce(prisma, operation, from, NO_FORMAT, staleAfterSeconds);
  const targets: OperationOptions["targets"] = {};
  for (const format of FORMATS) {
    if (format.detectOnly || (keepsFormat && format.ext !== from)) continue;
    if (!(await canProduce(prisma, operation, from, format.ext, staleAfterSeconds))) continue;
    (targets[format.family] ??= []).push({ name: format.name, slug: format.ext, ext: format.ext, type: format.family, device: false });
  }
  return { type: input.family, targets };
}

/** An output format no catalog entry or engine has: probes whether an operation looks at output_format. */
const NO_FORMAT = "no-such-format";

/** Whether a task of `operation` from `from` to `to` would pass creation and routing right now. */
async function canProduce(prisma: PrismaClient, operation: string, from: string, to: string, staleAfterSeconds: number): Promise<boolean> {
  const payload = { input_format: from, output_format: to };
  // As many inputs of this format as the operation needs (a merge takes several).
  const inputs = Math.max(1, OPERATIONS.get(operation)!.minInputs);
  try {
    validateTaskPayload("options", operation, payload, inputs);
  } catch {
    return false;
  }
  // Routing reads only the worker registrations (cached for a second), never writes.
  const route = await routeTask(prisma as unknown as Tx, { operation, payload }, Array<string>(inputs).fill(from), staleAfterSeconds);
  return route.ok;
}
