import type { z } from 'zod';

/**
 * How to fix one invalid config value, in terms of what its schema expects: quoting a number-like string
 * is the answer for a string field only; a number field wants a number, an enum one of its values.
 */
export function configFix(path: string, issue: z.core.$ZodIssue): string {
  const where = `correct ${path} in the pipeline, the config file or --set`;
  switch (issue.code) {
    case 'invalid_type':
      switch (issue.expected) {
        case 'string':
          return `${where} (--set values are JSON when they parse: quote number-like strings, --set '${path}="1"')`;
        case 'number':
        case 'int':
          return `${where} with a number, e.g. --set ${path}=3`;
        case 'bigint':
          return `${where} with an integer literal, e.g. --set ${path}=12345678901234567890n`;
        case 'boolean':
          return `${where} with true or false, e.g. --set ${path}=true`;
        case 'date':
          return `${where} with an ISO date, e.g. --set ${path}=2026-01-31T00:00:00Z`;
        case 'array':
          return `${where} with a JSON array, e.g. --set '${path}=["a","b"]'`;
        case 'object':
          return `${where} with a JSON object, e.g. --set '${path}={"key":"value"}'`;
        default:
          return `${where} with a value of type ${issue.expected}`;
      }
    case 'invalid_value':
      return `${where} with one of: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small':
      return `${where} with a value of at least ${String(issue.minimum)}${issue.inclusive === false ? ' (exclusive)' : ''}`;
    case 'too_big':
      return `${where} with a value of at most ${String(issue.maximum)}${issue.inclusive === false ? ' (exclusive)' : ''}`;
    default:
      return `${where} (${issue.message})`;
  }
}
