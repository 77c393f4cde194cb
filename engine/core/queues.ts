/** The queues a step can ask for. On Temporal each is a task queue served by its own workers; locally every queue runs in-process. */
export const QUEUES = ['cpu', 'gpu-h200'] as const;
export type QueueName = (typeof QUEUES)[number];

export function isQueueName(value: unknown): value is QueueName {
  return (QUEUES as readonly unknown[]).includes(value);
}

/** The Temporal task queue of a Flywheel queue: a prefix lets several deployments (or test suites) share one server. */
export function taskQueueName(prefix: string, queue: QueueName): string {
  return `${prefix}${queue}`;
}
