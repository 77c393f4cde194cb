import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TRAINER_ROOT = Path(__file__).resolve().parents[1]
FIXTURE = TRAINER_ROOT / "tests" / "fixtures" / "trajectories.jsonl"
ENV = {**os.environ, "PYTHONPATH": str(TRAINER_ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random Qwen3-architecture model and a BPE tokenizer learned from the fixture conversations."""
    from flywheel_trainer import tiny_model as builder

    out = tmp_path_factory.mktemp("tiny-model")
    builder.main(["--out", str(out), "--corpus", str(FIXTURE)])
    return out


def trainer_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "flywheel_trainer.train", *args]


def run_trainer(*args: str) -> tuple[int, list[dict]]:
    """Runs the trainer as a real process; returns its exit code and the protocol events it printed."""
    done = subprocess.run(trainer_command(*args), env=ENV, capture_output=True, text=True, timeout=600)
    return done.returncode, parse_events(done.stdout)


def parse_events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
