/**
 * Flywheel: typed ML pipelines whose every step is cached by a content hash of its code version,
 * config and input bytes. Define steps with `defineStep`, wire them with `definePipeline`, run them
 * with the `flywheel` CLI (or `runPipeline` from code).
 */
export { defineStep } from './engine/define/define-step.js';
export { defineComponentStep, type ComponentStepOptions } from './engine/components/define-component-step.js';
export { componentDigest, readComponent, type ComponentSpec, type LoadedComponent } from './engine/components/component-spec.js';
export type {
  StepSpec,
  StepDefinition,
  StepContext,
  StepResult,
  Resources,
  Progress,
  TaskQueue,
  AnyStep,
  OnCodeChange,
  Lineage,
  LineageStep,
  StepSpan,
  StepUsage,
} from './engine/define/define-step.js';
export type { SpanAttributes, SpanFunction } from './engine/tracing/tracing.js';
export type { Usage, PriceTable } from './cache/records.js';
export { addUsage, totalUsage } from './engine/core/usage.js';
export { usageText, usageParts, formatGpuHours, tokensByModel } from './engine/cost/describe-usage.js';
export { priceUsage, formatMoney, type Cost } from './engine/cost/price-usage.js';
export { definePipeline } from './engine/define/define-pipeline.js';
export type { PipelineSpec, PipelineDefinition, PipelineBuilder, StepHandle, OutputRef, NodeOptions } from './engine/define/define-pipeline.js';
export type { PipelineExtensions, PipelineCommand, PipelineComparison, CompareSection, CompareRow } from './engine/define/pipeline-extensions.js';
export { file, dir, json } from './engine/define/ports.js';
export type { FilePort, DirPort, JsonPort, Port, Ports } from './engine/define/ports.js';
export { FlywheelError, UsageError, PipelineInvalidError, formatProblems } from './engine/errors.js';
export type { Problem, ProblemCode } from './engine/errors.js';
export { validatePipeline } from './engine/validate/validate.js';
export type { ResolvedPipeline, ResolvedNode } from './engine/validate/validate.js';
export { planPipeline } from './engine/drivers/plan.js';
export type { Plan, PlannedStep, Decision, RunEvent } from './engine/core/run-protocol.js';
export { runLocal } from './engine/drivers/local-executor.js';
export type { LocalRunOptions } from './engine/drivers/local-executor.js';
// Testing a pipeline: one in-process run on a fresh temporary store, with its statuses and outputs.
export { runPipelineForTest } from './engine/drivers/test-run.js';
export type { TestRunOptions, PipelineTestRun } from './engine/drivers/test-run.js';
export { openStore } from './cache/open-store.js';
export type { Store } from './cache/store.js';
export type { RunRecord, StepRunRecord, ActionEntry, OutputRecord } from './cache/records.js';
export type { Digest, CacheKey } from './cache/digest.js';
export { createLogger } from './engine/logger.js';
export { runProcess } from './engine/helpers/run-process.js';
export type { RunProcessOptions } from './engine/helpers/run-process.js';
export type { QueueName } from './engine/core/queues.js';
// Helpers steps use for outside state, memos and shared files: the same hashing and atomic writes as the cache.
export { fileState } from './engine/helpers/external-state.js';
export { directoryDigest } from './engine/helpers/directory-digest.js';
export { canonicalJson } from './cache/canonical.js';
export { sha256Bytes } from './cache/digest.js';
export { writeFileWhole } from './cache/write-whole.js';
export { withFileLock } from './cache/file-lock.js';
export { mapBounded } from './engine/helpers/map-bounded.js';
export { parseCommandArgs } from './engine/helpers/command-args.js';
// Signed attestations (provenance): DSSE envelopes with the writer key, checked against the trusted keys.
export { signEnvelope, verifyEnvelope } from './engine/helpers/attestation.js';
export type { DsseEnvelope, DsseCheck } from './cache/dsse.js';
export { createS3Client, loadS3Sdk, parseS3Location } from './cache/s3-client.js';
export type { S3Location, Sdk } from './cache/s3-client.js';
export { describeS3Error, withS3Retries } from './cache/s3-errors.js';
