import { flowFixtureData } from '../flow-agent/fixture-data.js';
import { generateCalibrationSet, type CalibrationItem } from './calibration-generator.js';

const CALIBRATION_SEED = 4;
const CALIBRATION_SIZE = 240;

/** The committed calibration set (data/judge/calibration.jsonl), made the same way on every machine. */
export function calibrationFixture(): CalibrationItem[] {
  return generateCalibrationSet(flowFixtureData().benchmark, CALIBRATION_SEED, CALIBRATION_SIZE);
}
