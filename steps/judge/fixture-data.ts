import { flowFixtureData } from '../flow-agent/fixture-data.js';
import { generateCalibrationSet, type CalibrationItem } from './calibration-generator.js';

const CALIBRATION_SEED = 4;
const CALIBRATION_SIZE = 240;

/** The committed calibration set (data/judge/calibration.jsonl), made the same way on every machine. */
export function calibrationFixture(): CalibrationItem[] {
  return generateCalibrationSet(flowFixtureData().benchmark, CALIBRATION_SEED, CALIBRATION_SIZE);
}

const GOLDEN_SEED = 11;
/**
 * Outputs per golden request: 5 × 60 requests → 175 distinct items both annotators agree on. With the
 * 48 of one output per request, the paired drift test caught a lenient judge in too few simulations; at
 * this size it keeps false alarms ≤ 5% with power ≥ 80% (test/judge/drift-test-power.test.ts, docs/judge.md).
 */
const GOLDEN_OUTPUTS_PER_REQUEST = 5;

/**
 * The frozen golden set (data/judge/golden.jsonl): outputs for benchmark requests the calibration set
 * does not use, kept only where both annotators agree, so each has one reference label.
 */
export function goldenFixture(): CalibrationItem[] {
  const requests = flowFixtureData().benchmark.slice(CALIBRATION_SIZE);
  const golden = new Map<string, CalibrationItem>();
  for (const item of generateCalibrationSet(requests, GOLDEN_SEED, requests.length * GOLDEN_OUTPUTS_PER_REQUEST, 1)) {
    // The same output for the same request twice would be one item counted twice.
    const identity = JSON.stringify([item.request, item.output]);
    if (item.humans[0] === item.humans[1] && !golden.has(identity)) golden.set(identity, { ...item, id: item.id.replace(/^c-/, 'g-') });
  }
  return [...golden.values()];
}
