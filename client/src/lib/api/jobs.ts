// Following a job to its end: its jobProgress subscription, or polling once a second when the socket fails.
import { gql } from './graphql';
import { subscribe } from './subscribe';

export type Job = { id: string; kind: string; status: string; progress: number; total: number | null;
                    error: string | null; result: Record<string, unknown> | null;
                    runId?: string | null; runUrl?: string | null };  // a Databricks Jobs run, when handed to one

const FIELDS = 'id kind status progress total error result runId runUrl';
export const isRunning = (j: Job) => j.status === 'QUEUED' || j.status === 'RUNNING';

/** Calls onUpdate with every state of the job until it has finished; returns a function that stops early. */
export function watchJob(id: string, onUpdate: (job: Job) => void): () => void {
  let poll: ReturnType<typeof setInterval> | null = null;
  let stopped = false;
  const update = (j: Job) => { if (stopped) return; onUpdate(j); if (!isRunning(j)) stop(); };
  const unsub = subscribe<{ jobProgress: Job }>(`subscription($id: ID!){ jobProgress(jobId: $id){ ${FIELDS} } }`,
    { id }, (d) => update(d.jobProgress),
    () => { poll ??= setInterval(async () => update((await gql(`query($id: ID!){ job(id: $id){ ${FIELDS} } }`, { id })).job), 1000); });
  function stop() { stopped = true; unsub(); if (poll) clearInterval(poll); }
  return stop;
}

/** The job once it has finished (succeeded, failed or cancelled). */
export function finished(id: string): Promise<Job> {
  return new Promise((resolve) => watchJob(id, (j) => { if (!isRunning(j)) resolve(j); }));
}
