import type { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { Logger } from 'pino';
import { SEARCH_ATTRIBUTE_PIPELINE, SEARCH_ATTRIBUTE_RUN_ID } from '../workflows/types.js';

/**
 * Registers Flywheel's search attributes in the namespace when missing: a workflow upserting an unknown
 * attribute would fail every task. Needs operator rights; without them the worker only warns.
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string, logger: Logger): Promise<void> {
  const wanted = [SEARCH_ATTRIBUTE_PIPELINE, SEARCH_ATTRIBUTE_RUN_ID];
  try {
    const existing = await connection.operatorService.listSearchAttributes({ namespace });
    const missing = wanted.filter((name) => existing.customAttributes?.[name] === undefined);
    if (missing.length === 0) return;
    const keyword = proto.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: Object.fromEntries(missing.map((name) => [name, keyword])) });
    logger.info({ namespace, added: missing }, 'registered search attributes');
  } catch (error) {
    logger.warn(
      { err: error, namespace },
      `could not check or register search attributes ${wanted.join(', ')}; register them as Keyword (temporal operator search-attribute create)`,
    );
  }
}
