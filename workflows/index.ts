// The workflow bundle's entry point: every workflow the cpu worker hosts.
export { pipelineWorkflow, progressQuery } from './pipeline-workflow.js';
export { stepExecutionWorkflow, subscribeSignal, unsubscribeSignal } from './step-execution-workflow.js';
