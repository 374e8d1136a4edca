/**
 * `GET /process/tasks` and `GET /process/jobs`: an account's tasks or jobs, oldest first, by
 * (createdAt, id). Page paging counts and skips; cursor paging is keyset paging after the
 * cursor's position, bounded by the list horizon (list-horizon.ts) so that a walk never skips
 * or repeats an item while new ones are created.
 */
import { looksLikeTaskId } from "@transmute/core";
import type { Prisma } from "@transmute/db";
import { expandTaskViews } from "./include.js";
import { decodeCursor, encodeCursor, START_POSITION, type CursorPosition, type CursorScope } from "./list-cursor.js";
import { readListHorizon } from "./list-horizon.js";
import { storedTaskStatuses, type JobListFilters, type Paging, type TaskInclude, type TaskListFilters } from "./list-query.js";
import { buildPageEnvelope, pageWindow, type PageEnvelope } from "./paging.js";
import type { EngineDeps } from "./types.js";
import { taskInclude, toJobView, toTaskView, type JobView, type TaskView } from "./views.js";

/** A list as the route answers it: a page envelope, or a cursor page with what its headers say. */
export type ListResult<T> =
  | { mode: "page"; envelope: PageEnvelope<T> }
  | {
      mode: "cursor";
      docs: T[];
      limit: number;
      /** X-More-Results-Available: items after this page exist now. */
      more: boolean;
      /** X-Cursor-ID: where the next page starts (also when there is none yet: new items come after it). */
      cursor: string;
      /** X-Cursor-Was-Broken: the given cursor was not valid, and this page is the first. */
      broken: boolean;
    };

/** Where a window of rows lies in the (createdAt, id) order. */
interface Window {
  after?: CursorPosition;
  before?: Date;
  /** Only rows created at or after this. */
  notBefore?: Date;
  skip?: number;
  take: number;
}

/** How to count and read one model's rows for a list. */
interface ListSource<R> {
  count(window: Omit<Window, "take">): Promise<number>;
  read(window: Window): Promise<R[]>;
}

/** The Prisma condition of a window: after a position and before a horizon, in (createdAt, id) order. */
function keysetWhere(window: Omit<Window, "take">): Prisma.TaskWhereInput & Prisma.JobWhereInput {
  const and: Array<Prisma.TaskWhereInput & Prisma.JobWhereInput> = [];
  if (window.before) and.push({ createdAt: { lt: window.before } });
  if (window.notBefore) and.push({ createdAt: { gte: window.notBefore } });
  if (window.after) {
    const { createdAt, id } = window.after;
    and.push({ OR: [{ createdAt: { gt: createdAt } }, { createdAt, id: { gt: id } }] });
  }
  return and.length ? { AND: and } : {};
}

const ORDER = [{ createdAt: "asc" as const }, { id: "asc" as const }];

/** Runs the paging of a list over `source`; `toViews` serialises a page of rows. */
async function pageList<R extends { createdAt: Date; id: string }, V>(
  deps: EngineDeps,
  scope: CursorScope,
  paging: Paging,
  source: ListSource<R>,
  toViews: (rows: R[]) => Promise<V[]>,
): Promise<ListResult<V>> {
  if (paging.mode === "page") {
    const total = await source.count({});
    const window = pageWindow(paging.page, paging.perPage, total);
    const rows = window ? await source.read(window) : [];
    return { mode: "page", envelope: buildPageEnvelope(await toViews(rows), total, paging.page, paging.perPage) };
  }
  const decoded = paging.cursor === null ? null : decodeCursor(scope, paging.cursor);
  const broken = paging.cursor !== null && decoded === null;
  const after = decoded ?? START_POSITION;
  const before = await readListHorizon(deps.prisma);
  const rows = await source.read({ after, before, take: paging.limit + 1 });
  const page = rows.slice(0, paging.limit);
  // Beyond this page: a row past the limit, or rows too young to be handed out yet (the next
  // request's horizon will have passed them).
  const more = rows.length > paging.limit || (await source.read({ notBefore: before, take: 1 })).length > 0;
  const last = page.at(-1);
  const cursor = encodeCursor(scope, last ? { createdAt: last.createdAt, id: last.id } : after);
  return { mode: "cursor", docs: await toViews(page), limit: paging.limit, more, cursor, broken };
}

/** Lists an account's tasks. */
export async function listTasks(
  deps: EngineDeps,
  accountId: string,
  filters: TaskListFilters,
  paging: Paging,
  include: ReadonlySet<TaskInclude>,
): Promise<ListResult<TaskView>> {
  const where: Prisma.TaskWhereInput = { accountId };
  if (filters.status !== undefined) where.status = { in: storedTaskStatuses(filters.status) };
  if (filters.operation !== undefined) where.operation = filters.operation;
  // A job id of another shape names no job: nothing matches (and the uuid column is not asked).
  if (filters.job !== undefined) where.jobId = looksLikeTaskId(filters.job) ? filters.job : { in: [] };
  const { prisma, settings } = deps;
  const source: ListSource<Prisma.TaskGetPayload<{ include: typeof taskInclude }>> = {
    count: (window) => prisma.task.count({ where: { ...where, ...keysetWhere(window) } }),
    read: (window) => prisma.task.findMany({ where: { ...where, ...keysetWhere(window) }, orderBy: ORDER, skip: window.skip, take: window.take, include: taskInclude }),
  };
  const scope: CursorScope = { secret: settings.secret, list: "tasks", accountId, filters: { ...filters } };
  return pageList(deps, scope, paging, source, (rows) =>
    expandTaskViews(prisma, settings, accountId, rows.map((row) => toTaskView(settings, row)), include),
  );
}

/** Lists an account's jobs; with `withTasks` each job carries its task objects, otherwise their ids. */
export async function listJobs(deps: EngineDeps, accountId: string, filters: JobListFilters, paging: Paging, withTasks: boolean): Promise<ListResult<JobView>> {
  const where: Prisma.JobWhereInput = { accountId };
  if (filters.status !== undefined) where.status = filters.status;
  if (filters.tag !== undefined) where.tag = filters.tag;
  const { prisma, settings } = deps;
  const source: ListSource<Prisma.JobGetPayload<object>> = {
    count: (window) => prisma.job.count({ where: { ...where, ...keysetWhere(window) } }),
    read: (window) => prisma.job.findMany({ where: { ...where, ...keysetWhere(window) }, orderBy: ORDER, skip: window.skip, take: window.take }),
  };
  const scope: CursorScope = { secret: settings.secret, list: "jobs", accountId, filters: { ...filters } };
  return pageList(deps, scope, paging, source, async (jobs) => {
    if (jobs.length === 0) return [];
    const ids = jobs.map((j) => j.id);
    const tasks = withTasks
      ? await prisma.task.findMany({ where: { jobId: { in: ids } }, include: taskInclude, orderBy: ORDER })
      : await prisma.task.findMany({ where: { jobId: { in: ids } }, select: { id: true, jobId: true }, orderBy: ORDER });
    return jobs.map((job) =>
      toJobView(
        settings,
        job,
        tasks.filter((t) => t.jobId === job.id).map((t) => (withTasks ? toTaskView(settings, t as Prisma.TaskGetPayload<{ include: typeof taskInclude }>) : t.id)),
      ),
    );
  });
}
