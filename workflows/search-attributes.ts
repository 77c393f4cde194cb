import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { SEARCH_ATTRIBUTE_PIPELINE, SEARCH_ATTRIBUTE_RUN_ID } from './types.js';

/** Lets `flywheel runs --pipeline` and `flywheel show <runId>` find runs; registered by the worker and the test server. */
export const PIPELINE_KEY = defineSearchAttributeKey(SEARCH_ATTRIBUTE_PIPELINE, SearchAttributeType.KEYWORD);
export const RUN_ID_KEY = defineSearchAttributeKey(SEARCH_ATTRIBUTE_RUN_ID, SearchAttributeType.KEYWORD);
