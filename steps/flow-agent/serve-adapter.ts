import { cp, mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { defineStep, dir, FlywheelError, json, directoryDigest } from 'flywheel';

/** Where evaluate finds the candidate: a model name on an OpenAI-compatible endpoint. */
export const ServedModelRef = z.object({ model: z.string(), baseUrl: z.string().url(), adapterDigest: z.string() });
export type ServedModelRef = z.infer<typeof ServedModelRef>;

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Puts the fine-tuned adapter where the serving endpoint reads adapters and loads it there under a
 * name derived from its bytes, with vLLM's runtime LoRA API (`POST /v1/load_lora_adapter`; the server
 * runs with `--enable-lora` and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True). Loading the same adapter
 * twice is a no-op. Evaluate then talks to the candidate like any served model.
 */
export const serveAdapter = defineStep({
  id: 'flow-serve-adapter',
  version: 1,
  description: 'Load the candidate LoRA adapter onto the OpenAI-compatible serving endpoint',
  config: z.object({
    /** The endpoint, ending in /v1; default FLYWHEEL_SERVING_URL. */
    baseUrl: z.string().url().optional(),
    /** A folder the serving server can read (shared volume); adapters are copied under it. */
    adapterRoot: z.string().default('/models/adapters'),
    namePrefix: z
      .string()
      .regex(/^[a-z0-9-]+$/)
      .default('flow-agent'),
  }),
  inputs: { adapter: dir() },
  outputs: { served: json(ServedModelRef) },
  env: ['FLYWHEEL_SERVING_URL'],
  async run({ config, inputs, log, signal }) {
    const baseUrl = (config.baseUrl ?? process.env.FLYWHEEL_SERVING_URL ?? '').replace(/\/$/, '');
    if (baseUrl === '') {
      throw new FlywheelError('SERVING_URL_MISSING', 'flow-serve-adapter needs the serving endpoint', {
        retryable: false,
        fix: 'set FLYWHEEL_SERVING_URL=http://<vllm host>:8000/v1 or --set serve.baseUrl=...',
      });
    }
    const adapterDigest = await directoryDigest(inputs.adapter);
    const model = `${config.namePrefix}-${adapterDigest.slice(0, 12)}`;
    const target = join(config.adapterRoot, model);
    if (!(await exists(join(target, 'adapter_config.json')))) {
      await mkdir(config.adapterRoot, { recursive: true });
      const staging = join(config.adapterRoot, `.${model}.${process.pid}`);
      await rm(staging, { recursive: true, force: true });
      await cp(inputs.adapter, staging, { recursive: true });
      await rename(staging, target); // the server never sees a half-copied adapter
    }
    const response = await fetch(`${baseUrl}/load_lora_adapter`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(process.env.OPENAI_API_KEY ? { authorization: `Bearer ${process.env.OPENAI_API_KEY}` } : {}) },
      body: JSON.stringify({ lora_name: model, lora_path: target }),
      signal,
    });
    const text = await response.text();
    if (!response.ok && !/already (been )?loaded/i.test(text)) {
      throw new FlywheelError(
        'ADAPTER_LOAD_FAILED',
        `${baseUrl} refused to load adapter ${model} from ${target}: HTTP ${response.status} ${text.slice(0, 300)}`,
        {
          retryable: response.status >= 500,
          fix: 'start the server with --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True, and make adapterRoot a folder it can read',
        },
      );
    }
    log.info({ model, path: target, baseUrl }, 'candidate adapter loaded on the serving endpoint');
    return { served: { model, baseUrl, adapterDigest } };
  },
});
