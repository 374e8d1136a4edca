/** The limits an engine call runs under, from the handler's context. */
import type { ConversionLimits, OperationContext } from "../context.js";

/** The conversion limits of this task (pixels always; pages, media length and archive guards where configured). */
export function conversionLimits(ctx: OperationContext): ConversionLimits {
  const limits: ConversionLimits = { maxPixels: ctx.limits.maxPixels };
  if (ctx.limits.maxPages !== undefined) limits.maxPages = ctx.limits.maxPages;
  if (ctx.limits.maxMediaSeconds !== undefined) limits.maxMediaSeconds = ctx.limits.maxMediaSeconds;
  if (ctx.limits.archive !== undefined) limits.archive = ctx.limits.archive;
  return limits;
}
