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
 * The frozen golden set (data/judge/golden.jsonl): outputs for benchmark requests the calibration set
 * does not use, kept only where both annotators agree, so each has one reference label.
 */
export function goldenFixture(): CalibrationItem[] {
  const requests = flowFixtureData().benchmark.slice(CALIBRATION_SIZE);
  return generateCalibrationSet(requests, GOLDEN_SEED, requests.length, 1)
    .filter((item) => item.humans[0] === item.humans[1])
    .map((item) => ({ ...item, id: item.id.replace(/^c-/, 'g-') }));
}
