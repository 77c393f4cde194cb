import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, runJson, statuses } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

describe('the flow-agent pipeline (local profile)', () => {
  it('collects, synthesizes, trains the offline stand-in and evaluates it on the benchmark; a second run is entirely cached', async () => {
    const cwd = await tempDir('flow-agent');
    const env = { OPENAI_API_KEY: '' };
    const first = await runJson('flow-agent', [], { cwd, env });
    expect(first.code, first.stderr).toBe(0);
    expect(Object.values(statuses(first.run)).every((s) => s === 'executed')).toBe(true);
    expect(JSON.parse((await runCli(['output', 'deploy.decision'], { cwd, env })).stdout)).toMatchObject({ version: 1, promoted: true, production: 1 });

    const metrics = JSON.parse((await runCli(['output', 'evaluate.metrics'], { cwd, env })).stdout) as {
      offlineStandIn: boolean;
      overall: { examples: number; valid: number; trigger: number };
      slices: Record<string, unknown>;
    };
    expect(metrics.offlineStandIn).toBe(true);
    expect(metrics.overall.examples).toBe(300);
    expect(metrics.overall.valid).toBe(1);
    expect(metrics.overall.trigger).toBeGreaterThan(0.3); // a real model, well above chance over 32 triggers
    expect(Object.keys(metrics.slices)).toEqual(expect.arrayContaining(['kind:edit', 'email', 'third-party']));
    await runCli(['output', 'evaluate.report', '--out', join(cwd, 'report')], { cwd, env });
    expect(await readFile(join(cwd, 'report', 'report.md'), 'utf8')).toContain('(offline stand-in model)');
    expect(await readFile(join(cwd, 'report', 'report.html'), 'utf8')).toContain('<table>');

    const again = await runJson('flow-agent', [], { cwd, env });
    // The data files are unchanged (their digests are in the snapshot keys) and the registry is as the first
    // deploy left it (its state is deploy's key): entirely cached.
    expect(Object.entries(statuses(again.run)).filter(([, status]) => status !== 'cached')).toEqual([]);
    expect(Object.keys(statuses(again.run))).toHaveLength(21);
    const decision = async (): Promise<{ version: number; newVersion: boolean; promoted: boolean; production: number | null; reasons: string[] }> =>
      JSON.parse((await runCli(['output', 'deploy.decision'], { cwd, env })).stdout);
    expect(await decision()).toMatchObject({ version: 1, promoted: true, production: 1 });

    // More data: a better model, promoted; then rolled back by hand.
    const changed = await runJson('flow-agent', ['--set', 'collect.days=30'], { cwd, env });
    expect(statuses(changed.run)).toMatchObject({
      collect: 'executed',
      'synthesize-each': 'executed',
      synthesize: 'executed',
      train: 'executed',
      evaluate: 'executed',
    });
    expect(await decision()).toMatchObject({ version: 2, newVersion: true, promoted: true, production: 2 });
    expect((await runCli(['model', 'rollback'], { cwd, env })).stdout).toContain('v1');
    const listed = JSON.parse((await runCli(['model', 'ls', '--json'], { cwd, env })).stdout) as {
      aliases: { production: number; candidate: number };
      versions: Array<{ version: number; runId: string; dataDigest: string }>;
    };
    expect(listed.aliases).toEqual({ production: 1, candidate: 2 });
    expect(listed.versions.map((v) => v.runId)).toEqual([first.run.runId, changed.run.runId]);
    // The rollback changed the registry: deploy judges again, keeps the rolled-back v2 out, then is cached.
    // (Mirroring's feedback is read from an empty folder here, so the candidate stays v2.)
    const sameCandidate = ['--set', 'collect.days=30', '--set', `feedback.location=${join(cwd, 'no-feedback')}`];
    const afterRollback = await runJson('flow-agent', sameCandidate, { cwd, env });
    expect(statuses(afterRollback.run)).toMatchObject({ train: 'cached', evaluate: 'cached', deploy: 'executed' });
    expect(afterRollback.run.steps.find((st) => st.id === 'deploy')?.reason).toContain('outside state');
    expect(await decision()).toMatchObject({ version: 2, newVersion: false, promoted: false, production: 1 });
    expect((await decision()).reasons.join(' ')).toContain('rolled back by hand');
    expect(statuses((await runJson('flow-agent', sameCandidate, { cwd, env })).run).deploy).toBe('cached');
    // A strict gate keeps a candidate out of production.
    const strict = await runJson('flow-agent', ['--set', 'collect.days=30', '--set', 'collect.minWorkflowsPerMerchant=1', '--set', 'deploy.minScore=0.99'], {
      cwd,
      env,
    });
    expect(strict.code).toBe(0);
    expect(await decision()).toMatchObject({ version: 3, promoted: false, production: 1 });
    expect((await runCli(['model', 'promote', 'v3'], { cwd, env })).code).toBe(0);
    expect((await runCli(['model', 'promote', '9'], { cwd, env })).stderr).toContain('MODEL_VERSION_NOT_FOUND');
  }, 180_000);

  it('calibrates the judge, judges the benchmark with it, and nothing acts on a judge humans cannot trust or that drifted', async () => {
    const cwd = await tempDir('flow-agent-judge');
    const env = { OPENAI_API_KEY: '' };
    const trusted = await runJson('flow-agent', [], { cwd, env });
    expect(trusted.code, trusted.stderr).toBe(0);
    const judged = JSON.parse((await runCli(['output', 'judge.judged'], { cwd, env })).stdout) as {
      refused: string | null;
      offline: boolean;
      heldOutKappa: number;
      overall: { items: number; good: number; goodCi: [number, number] };
    };
    expect(judged.refused).toBeNull();
    expect(judged.offline).toBe(true);
    expect(judged.heldOutKappa).toBeGreaterThanOrEqual(0.6);
    expect(judged.overall.items).toBe(300);
    expect(judged.overall.goodCi[0]).toBeLessThanOrEqual(judged.overall.good);
    const trust = JSON.parse((await runCli(['output', 'judge-trust.trust'], { cwd, env })).stdout) as { trusted: boolean; gate: { lowerBound: number } };
    expect(trust.trusted).toBe(true);
    expect(trust.gate.lowerBound).toBeGreaterThanOrEqual(0.5);
    const registry = async (): Promise<{ versions: Array<{ judge: { specDigest: string } | null }>; aliases: { production: number } }> =>
      JSON.parse((await runCli(['model', 'ls', '--json'], { cwd, env })).stdout);
    expect((await registry()).versions[0]?.judge?.specDigest).toMatch(/^[0-9a-f]{64}$/);

    // What must not happen below an untrusted judge: a new candidate (more data) would be judged, mirrored
    // against v1 (its losses appended to the training data) and promoted.
    const feedbackFile = join(cwd, '.flywheel', 'feedback', 'mirror-losses.jsonl');
    const nothingActed = async (run: Awaited<ReturnType<typeof runJson>>, code: string): Promise<void> => {
      expect(run.code).toBe(1);
      expect(statuses(run.run)).toMatchObject({ 'judge-trust': 'executed', judge: 'executed', mirror: 'executed', deploy: 'failed', report: 'executed' });
      // The refusals read as refusals, not as green steps that did their work.
      const declined = (id: string) => run.run.steps.find((st) => st.id === id)?.declined;
      expect(declined('judge')).toMatch(/^nothing judged: judge .* is not trusted/);
      expect(declined('mirror')).toMatch(/^not mirrored: judge .* is not trusted/);
      expect(run.run.steps.find((st) => st.id === 'deploy')?.error).toMatchObject({
        code,
        message: expect.stringMatching(/^deploy refused: judge .* is not trusted: /),
      });
      const refusedJudge = JSON.parse((await runCli(['output', 'judge.judged', '--run', run.run.runId], { cwd, env })).stdout) as {
        refused: string;
        overall: { items: number };
      };
      expect(refusedJudge.refused).toContain('is not trusted');
      expect(refusedJudge.overall.items).toBe(0);
      const mirrored = JSON.parse((await runCli(['output', 'mirror.mirror', '--run', run.run.runId], { cwd, env })).stdout) as {
        refused: string;
        promote: boolean;
        overall: { n: number };
      };
      expect(mirrored).toMatchObject({ refused: expect.stringContaining('is not trusted'), promote: false, overall: { n: 0 } });
      expect((await runCli(['output', 'mirror.losses', '--run', run.run.runId], { cwd, env })).stdout).toBe('');
      await expect(readFile(feedbackFile, 'utf8')).rejects.toThrow(/ENOENT/); // nothing joined the training data
      expect((await registry()).versions).toHaveLength(1); // nothing registered, nothing promoted
      await runCli(['output', 'report.report', '--run', run.run.runId, '--out', join(cwd, `report-${code}`)], { cwd, env });
      expect(await readFile(join(cwd, `report-${code}`, 'report.md'), 'utf8')).toMatch(/Judge trust — NOT trusted[\s\S]*Nothing acts on its verdicts/);
    };

    // Drift alone: the baseline on the golden set came from a judge that called 30% of needs_improvement good.
    const historyFile = join(cwd, '.flywheel', 'judge-history', 'golden-history.json');
    const history = JSON.parse(await readFile(historyFile, 'utf8')) as { entries: Array<{ items: Record<string, string> }> };
    const baselineItems = history.entries[0]!.items;
    Object.keys(baselineItems).forEach((id, i) => {
      if (baselineItems[id] === 'needs_improvement' && i % 10 < 3) baselineItems[id] = 'good';
    });
    await writeFile(historyFile, JSON.stringify(history));
    const drifted = await runJson('flow-agent', ['--set', 'collect.days=30'], { cwd, env });
    const driftTrust = JSON.parse((await runCli(['output', 'judge-trust.trust', '--run', drifted.run.runId], { cwd, env })).stdout) as {
      trusted: boolean;
      gate: { passed: boolean };
      reasons: string[];
    };
    expect(driftTrust).toMatchObject({ trusted: false, gate: { passed: true } });
    expect(driftTrust.reasons[0]).toMatch(/^golden-set drift: the judge labels the same 175 items differently/);
    await nothingActed(drifted, 'JUDGE_DRIFT');

    // Accepting the new baseline (a deliberate change) trusts the judge again.
    const accepted = await runJson('flow-agent', ['--set', 'collect.days=30', '--set', 'judge-drift.acceptBaseline=true'], { cwd, env });
    expect(accepted.code, accepted.stderr).toBe(0);
    expect((await registry()).versions).toHaveLength(2);
    await rm(join(cwd, '.flywheel', 'feedback'), { recursive: true, force: true });
    await runCli(['model', 'rollback'], { cwd, env });

    // The gate alone: no search, the first-draft rubric (held-out kappa 0.447, lower bound below 0.5); a new
    // golden baseline so that drift is not also the cause. Nothing acts; the run fails with the reason.
    const untrusted = await runJson(
      'flow-agent',
      [
        '--set',
        'calibrate-judge.maxIterations=0',
        '--set',
        'collect.days=30',
        '--set',
        'collect.minWorkflowsPerMerchant=1',
        '--set',
        'judge-drift.acceptBaseline=true',
      ],
      { cwd, env },
    );
    const gateTrust = JSON.parse((await runCli(['output', 'judge-trust.trust', '--run', untrusted.run.runId], { cwd, env })).stdout) as {
      trusted: boolean;
      reasons: string[];
      details: string;
    };
    expect(gateTrust.trusted).toBe(false);
    expect(gateTrust.reasons).toEqual([
      expect.stringMatching(/^held-out kappa 0\.4\d\d is below the bar 0\.6 \(120 items\)$/),
      expect.stringMatching(/^its 95% lower bound 0\.\d+ is below 0\.5: too uncertain on 120 held-out items$/),
    ]);
    expect(gateTrust.details).toMatch(/largest disagreements \w/);
    // (the registry now holds v1 and v2 with production rolled back to v1, and no feedback file)
    expect(untrusted.code).toBe(1);
    expect(untrusted.run.steps.find((st) => st.id === 'deploy')?.error?.code).toBe('JUDGE_UNTRUSTED');
    await expect(readFile(feedbackFile, 'utf8')).rejects.toThrow(/ENOENT/);
    expect((await registry()).versions).toHaveLength(2);
    expect((await registry()).aliases.production).toBe(1);
  }, 240_000);

  it('mirrors production traffic against the production model, gates on the win rate, and feeds the losses back into training', async () => {
    const cwd = await tempDir('flow-agent-mirror');
    const env = { OPENAI_API_KEY: '' };
    expect((await runJson('flow-agent', [], { cwd, env })).code).toBe(0);
    const mirrorResult = async (): Promise<{
      skipped: string | null;
      production: string | null;
      overall: { n: number; wins: number; ties: number; losses: number; ci: [number, number] };
      promote: boolean;
    }> => JSON.parse((await runCli(['output', 'mirror.mirror'], { cwd, env })).stdout);
    expect(await mirrorResult()).toMatchObject({ skipped: expect.stringContaining('nothing to compare'), production: null });

    const more = await runJson('flow-agent', ['--set', 'collect.days=30'], { cwd, env });
    expect(more.code).toBe(0);
    const mirrored = await mirrorResult();
    expect(mirrored).toMatchObject({ skipped: null, production: 'v1' });
    expect(mirrored.overall.n).toBe(100);
    expect(mirrored.overall.wins + mirrored.overall.ties + mirrored.overall.losses).toBe(100);
    expect(mirrored.overall.losses).toBeGreaterThan(0);
    const decision = JSON.parse((await runCli(['output', 'deploy.decision'], { cwd, env })).stdout) as { promoted: boolean; reasons: string[] };
    expect(decision.promoted).toBe(mirrored.promote && decision.reasons[0]?.includes('≥') === true);
    expect(decision.reasons.some((r) => r.startsWith('mirroring: '))).toBe(true);
    // One report for the run: judge trust, benchmark, judged outputs, calibration (confusion, kappa beside the
    // ceiling, history chart), drift history and mirrored scores by slice.
    await runCli(['output', 'report.report', '--out', join(cwd, 'run-report')], { cwd, env });
    const html = await readFile(join(cwd, 'run-report', 'report.html'), 'utf8');
    for (const part of [
      'Judge trust — trusted',
      'Benchmark report',
      'Judged benchmark',
      'Confusion matrix (held-out)',
      'annotator 1 vs annotator 2 (ceiling)',
      'Calibration history',
      'Judge drift on the golden set',
      'lenient CUSUM',
      'Production mirroring',
      '<td>email</td>',
    ])
      expect(html).toContain(part);
    // Charts: the calibration history, the golden-set kappa per run, and the sequential test's sums.
    expect(html.match(/<svg/g)).toHaveLength(3);

    // The losses became the feedback dataset; the plan shows the next run picks them up.
    const feedback = (await readFile(join(cwd, '.flywheel', 'feedback', 'mirror-losses.jsonl'), 'utf8')).trimEnd().split('\n');
    expect(feedback).toHaveLength(mirrored.overall.losses);
    const plan = JSON.parse((await runCli(['plan', 'flow-agent', '--set', 'collect.days=30', '--json'], { cwd, env })).stdout) as {
      steps: Array<{ id: string; decision: string; reason: string }>;
    };
    expect(plan.steps.find((st) => st.id === 'feedback')).toMatchObject({ decision: 'run', reason: expect.stringContaining('outside state changed') });
    const next = await runJson('flow-agent', ['--set', 'collect.days=30'], { cwd, env });
    expect(statuses(next.run)).toMatchObject({ feedback: 'executed', collect: 'cached', synthesize: 'executed', train: 'executed', mirror: 'executed' });
    const synthesized = JSON.parse((await runCli(['output', 'synthesize.report'], { cwd, env })).stdout) as { feedbackExamples: number; examples: number };
    expect(synthesized.feedbackExamples).toBe(mirrored.overall.losses);
  }, 180_000);

  it('a sampling change re-runs exactly synthesize and what lies downstream of it', async () => {
    const cwd = await tempDir('flow-agent-temperature');
    const env = { OPENAI_API_KEY: '' };
    const first = await runJson('flow-agent', [], { cwd, env });
    expect(first.code).toBe(0);
    const warmer = await runJson('flow-agent', ['--set', 'synthesize-each.temperature=0.9'], { cwd, env });
    expect(statuses(warmer.run)).toEqual({
      production: 'cached',
      feedback: 'cached',
      traffic: 'cached',
      collect: 'cached',
      'synthesize-each': 'executed',
      synthesize: 'executed',
      train: 'executed',
      benchmark: 'cached',
      calibration: 'cached',
      'calibrate-judge': 'cached',
      golden: 'cached',
      'judge-drift': 'cached',
      'judge-trust': 'cached',
      evaluate: 'executed',
      'mirror-sample': 'cached',
      'mirror-each': 'executed',
      mirror: 'executed',
      'judge-each': 'executed',
      judge: 'executed',
      deploy: 'executed',
      report: 'executed',
    });
    // Every element's key holds the temperature: all of them re-run (the plan's reason says so first).
    const synthesize = warmer.run.steps.find((s) => s.id === 'synthesize-each');
    expect(synthesize?.reason).toMatch(/^config temperature: 0\.7 → 0\.9/);
    const elements = async (run: string, id: string): Promise<{ total: number; executed: number; cached: number; failed: number } | undefined> =>
      (
        JSON.parse((await runCli(['show', run, '--json'], { cwd, env })).stdout) as {
          record: { steps: Array<{ id: string; elements?: { total: number; executed: number; cached: number; failed: number } }> };
        }
      ).record.steps.find((s) => s.id === id)?.elements;
    const examples = (await elements(first.run.runId, 'synthesize-each'))?.total ?? 0;
    expect(await elements(warmer.run.runId, 'synthesize-each')).toMatchObject({ total: examples, executed: examples, cached: 0 });
    // The retrained model answers some benchmark requests differently: the judge is asked about those alone.
    const predictions = async (run: string): Promise<string[]> =>
      (await runCli(['output', 'evaluate.predictions', '--run', run], { cwd, env })).stdout.trimEnd().split('\n');
    const [before, after] = [await predictions(first.run.runId), await predictions(warmer.run.runId)];
    expect(after).toHaveLength(300);
    const changed = after.filter((line, i) => line !== before[i]).length;
    expect(changed).toBeGreaterThan(0);
    expect(changed).toBeLessThan(300);
    expect(await elements(warmer.run.runId, 'judge-each')).toMatchObject({ total: 300, executed: changed, cached: 300 - changed });
    // A new candidate against the same production model: every sampled request is mirrored again, one element each.
    expect(await elements(warmer.run.runId, 'mirror-each')).toMatchObject({ total: 100, executed: 100, cached: 0, failed: 0 });
    const judged = JSON.parse((await runCli(['output', 'judge.judged'], { cwd, env })).stdout) as {
      refused: string | null;
      unjudged: number;
      overall: { items: number };
    };
    expect(judged).toMatchObject({ refused: null, unjudged: 0, overall: { items: 300 } });
    // The weekly operator's case: the slice gate weighs each slice's sample. A 3-item slice that moved is too
    // small to tell, no slice is shown worse than production; what keeps the candidate out is mirroring
    // finding no evidence that it is better (nearly every mirrored request ties).
    const decision = JSON.parse((await runCli(['output', 'deploy.decision'], { cwd, env })).stdout) as {
      promoted: boolean;
      reasons: string[];
      slices: Array<{ slice: string; n: number; verdict: string; paired: boolean; p: number | null }>;
    };
    expect(decision.promoted).toBe(false);
    // Kept out of production: the run records deploy as declined, with the reason that kept it out.
    expect(warmer.run.steps.find((s) => s.id === 'deploy')?.declined).toMatch(
      /^v2 kept out of production: mirroring: score 0\.\d+ .*not shown better than production/,
    );
    expect(decision.slices.find((s) => s.slice === 'trigger:control')).toMatchObject({ n: 3, verdict: 'too-small', p: null, paired: true });
    expect(decision.slices.filter((s) => s.verdict === 'blocks')).toEqual([]);
    expect(decision.slices.filter((s) => s.verdict === 'fine')).toHaveLength(13);
    expect(decision.reasons[0]).toMatch(
      /^actionF1 0\.\d+ ≥ 0\.3; no slice is worse than production beyond 2\.0 pt \(one-sided, α 0\.05, Holm over 13 slices\)$/,
    );
    expect(decision.reasons[1]).toBe('too small to tell (under 10 items; reported, never blocking alone): trigger:control (3)');
    expect(decision.reasons[2]).toMatch(/^mirroring: .*the lower bound is not above 0\.5 \(not shown better than production/);
    // Each version keeps its per-example scores beside the registry entry: what the next candidate is paired with.
    expect((await readdir(join(cwd, '.flywheel', 'registry', 'scores'))).sort()).toEqual(['v1.json', 'v2.json']);
  }, 180_000);
});
