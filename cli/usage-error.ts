/** Bad command-line usage: exit code 2 with the message and how to fix it. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}
