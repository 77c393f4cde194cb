import { FlywheelError } from '../cache/errors.js';

/** Bad command-line usage: exit code 2 with the message and how to fix it. */
export class UsageError extends FlywheelError {
  constructor(message: string, fix: string) {
    super('USAGE', message, { fix });
    this.name = 'UsageError';
  }
}
