/**
 * FreeConvert's paging envelope (`docs, totalDocs, limit, totalPages, page, pagingCounter,
 * hasPrevPage, hasNextPage, prevPage, nextPage`), computed as mongoose-paginate-v2 does, whose
 * field names the reference's samples use (the samples' own numbers contradict each other).
 */

/** A page of a list, as the reference's list endpoints answer. */
export interface PageEnvelope<T> {
  docs: T[];
  totalDocs: number;
  limit: number;
  /** At least 1: an empty list has one, empty, page. */
  totalPages: number;
  page: number;
  /** The 1-based position of the page's first item in the whole list. */
  pagingCounter: number;
  hasPrevPage: boolean;
  hasNextPage: boolean;
  prevPage: number | null;
  nextPage: number | null;
}

/** The rows to read for `page` of `limit` items out of `totalDocs`; null when the page is past the end. */
export function pageWindow(page: number, limit: number, totalDocs: number): { skip: number; take: number } | null {
  const skip = (page - 1) * limit;
  // Checked before any query: a huge page number must not become a huge OFFSET.
  if (skip >= totalDocs) return null;
  return { skip, take: limit };
}

/** Builds the envelope of `page` (1-based) holding `docs`. */
export function buildPageEnvelope<T>(docs: T[], totalDocs: number, page: number, limit: number): PageEnvelope<T> {
  const totalPages = Math.max(1, Math.ceil(totalDocs / limit));
  const hasPrevPage = page > 1;
  const hasNextPage = page < totalPages;
  return {
    docs,
    totalDocs,
    limit,
    totalPages,
    page,
    pagingCounter: (page - 1) * limit + 1,
    hasPrevPage,
    hasNextPage,
    prevPage: hasPrevPage ? page - 1 : null,
    nextPage: hasNextPage ? page + 1 : null,
  };
}
