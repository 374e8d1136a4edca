/**
 * Path ids. Job and task ids are UUIDs: an id of any other shape (a FreeConvert ObjectID, a
 * typo) names nothing, so it answers 404 exactly as an unknown id, before the database sees it.
 */
import { AppError, looksLikeTaskId } from "@transmute/core";

/** Throws the 404 of an unknown `kind` unless `id` has the shape of an id. */
export function assertIdShape(kind: "job" | "task", id: string): void {
  if (!looksLikeTaskId(id)) throw new AppError("not_found", `No ${kind} with id "${id}".`);
}
