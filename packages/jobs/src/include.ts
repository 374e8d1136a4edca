/**
 * The `include` parameter of the task endpoints: `dependsOn` expands the input task ids into task
 * objects, `job` the job id into the job object (without its tasks, which the job endpoint
 * has). `payload` is accepted and changes nothing: payloads are always shown, as they were
 * before `include` existed, so clients that read them keep working.
 */
import type { PrismaClient } from "@transmute/db";
import type { TaskInclude } from "./list-query.js";
import type { EngineSettings } from "./types.js";
import { taskInclude, toJobView, toTaskView, type TaskView } from "./views.js";

/** Expands the fields `include` names in each of `views` (tasks of `accountId`); the rest stay ids. */
export async function expandTaskViews(
  prisma: PrismaClient,
  settings: EngineSettings,
  accountId: string,
  views: TaskView[],
  include: ReadonlySet<TaskInclude>,
): Promise<TaskView[]> {
  if (views.length === 0) return views;
  let dependencies = new Map<string, TaskView>();
  let jobs = new Map<string, unknown>();
  if (include.has("dependsOn")) {
    const ids = [...new Set(views.flatMap((v) => v.dependsOn as string[]))];
    const rows = ids.length ? await prisma.task.findMany({ where: { id: { in: ids }, accountId }, include: taskInclude }) : [];
    dependencies = new Map(rows.map((row) => [row.id, toTaskView(settings, row)]));
  }
  if (include.has("job")) {
    const ids = [...new Set(views.map((v) => v.job as string))];
    const rows = await prisma.job.findMany({ where: { id: { in: ids }, accountId } });
    jobs = new Map(rows.map((row) => [row.id, toJobView(settings, row)]));
  }
  return views.map((view) => {
    const expanded: TaskView = { ...view };
    if (include.has("dependsOn")) expanded.dependsOn = (view.dependsOn as string[]).flatMap((id) => dependencies.get(id) ?? []);
    if (include.has("job")) expanded.job = jobs.get(view.job as string) ?? view.job;
    return expanded;
  });
}
