import { parseCommandArgs, UsageError, type PipelineCommand } from 'flywheel';
import { ModelRegistry, registryLocation } from './model-registry.js';
import { checkProvenance } from './provenance.js';

const USAGE = 'ls [--json] | promote <version> | rollback | verify <version>   [--registry dir] (default .flywheel/registry)';

/** `flywheel model ls | promote <version> | rollback`: the model registry the deploy step writes. The flagship declares it. */
export const modelCommand: PipelineCommand = {
  usage: USAGE,
  run: async (argv) => {
    const { values, positionals } = parseCommandArgs(argv, { registry: { type: 'string' }, json: { type: 'boolean' } }, `flywheel model ${USAGE}`);
    return model({ action: positionals[0], version: positionals[1], registry: values.registry, json: values.json ?? false });
  },
};

async function model(args: { action: string | undefined; version: string | undefined; registry: string | undefined; json: boolean }): Promise<number> {
  const registry = new ModelRegistry(registryLocation(args.registry));
  const out = (text: string): boolean => process.stdout.write(`${text}\n`);
  switch (args.action) {
    case 'ls': {
      const state = await registry.read();
      if (args.json) {
        out(
          JSON.stringify(
            {
              aliases: state.aliases,
              versions: state.versions.map(({ metrics, ...v }) => ({
                ...v,
                overall: (metrics as { overall?: unknown } | undefined)?.overall ?? null,
                judge: (metrics as { judge?: unknown } | undefined)?.judge ?? null,
              })),
              history: state.history,
            },
            null,
            2,
          ),
        );
        return 0;
      }
      if (state.versions.length === 0) {
        out(`no model versions in ${registry.root}`);
        return 0;
      }
      for (const v of state.versions) {
        const tags = [state.aliases.production === v.version ? 'production' : '', state.aliases.candidate === v.version ? 'candidate' : '']
          .filter(Boolean)
          .join(', ');
        out(
          `v${v.version}  ${v.createdAt}  run ${v.runId}  data ${v.dataDigest.slice(0, 12)}  model ${v.modelDigest.slice(0, 12)}${tags ? `  [${tags}]` : ''}`,
        );
      }
      return 0;
    }
    case 'promote': {
      const version = Number(args.version?.replace(/^v/, ''));
      if (!Number.isInteger(version) || version < 1)
        throw new UsageError(
          `flywheel model promote needs a version, got ${JSON.stringify(args.version ?? '')}`,
          'e.g. flywheel model promote 3 (see flywheel model ls)',
        );
      await registry.setAlias('production', version, 'promoted by hand (flywheel model promote)');
      out(`production → v${version}`);
      return 0;
    }
    case 'verify': {
      const wanted = Number(args.version?.replace(/^v/, ''));
      const state = await registry.read();
      const version = state.versions.find((v) => v.version === wanted);
      if (version === undefined)
        throw new UsageError(
          `flywheel model verify needs a version in the registry, got ${JSON.stringify(args.version ?? '')}`,
          'e.g. flywheel model verify 3 (see flywheel model ls)',
        );
      const check = await checkProvenance(registry, version);
      if (args.json) out(JSON.stringify({ version: version.version, ...check }, null, 2));
      else if (check.ok)
        out(
          `v${version.version}: provenance verified, signed by ${check.signer}; built by run ${check.runId} from ${check.steps} steps; subject ${check.subject} matches the registry`,
        );
      else process.stderr.write(`v${version.version}: provenance check failed: ${check.problem}\n`);
      return check.ok ? 0 : 1;
    }
    case 'rollback': {
      const version = await registry.rollback();
      out(`production rolled back to v${version}`);
      return 0;
    }
    default:
      throw new UsageError(
        `unknown model command ${JSON.stringify(args.action ?? '')}`,
        'use flywheel model ls | promote <version> | rollback | verify <version>',
      );
  }
}
