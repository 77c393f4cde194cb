"""The multi-process path (torchrun + FSDP) on CPU with gloo, and the trainer's tie to its parent."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import ENV, FIXTURE, parse_events, run_trainer


def launch(*args: str) -> tuple[int, list[dict]]:
    command = [sys.executable, "-m", "flywheel_trainer.launch", "--nproc-per-node", "2", "--", *args]
    done = subprocess.run(command, env={**ENV, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600)
    return done.returncode, parse_events(done.stdout)


def test_two_ranks_shard_train_checkpoint_and_resume_exactly_and_match_one_process(tiny_model: Path, tmp_path: Path) -> None:
    common = ["--model", str(tiny_model), "--data", str(FIXTURE), "--max-steps", "6", "--checkpoint-every", "3"]
    code, single = run_trainer(*common, "--out", str(tmp_path / "single"))
    assert code == 0, single
    code, first = launch(*common, "--out", str(tmp_path / "a"))
    assert code == 0, first
    start = first[0]
    assert start["event"] == "start" and start["world_size"] == 2
    assert len([e for e in first if e["event"] == "start"]) == 1  # only rank 0 speaks
    steps = {e["step"]: e["loss"] for e in first if e["event"] == "step"}
    assert sorted(steps) == [1, 2, 3, 4, 5, 6]
    # The profile fixes the global batch: two ranks see the same sequences per step as one process.
    for event in single:
        if event["event"] == "step":
            assert abs(event["loss"] - steps[event["step"]]) < 1e-4, event
    assert (tmp_path / "a" / "adapter" / "adapter_model.safetensors").is_file()

    code, resumed = launch(*common, "--out", str(tmp_path / "b"), "--resume-from", str(tmp_path / "a" / "checkpoints" / "ckpt-00000003"))
    assert code == 0, resumed
    again = {e["step"]: e["loss"] for e in resumed if e["event"] == "step"}
    assert sorted(again) == [4, 5, 6]
    for step, loss in again.items():
        assert abs(loss - steps[step]) < 1e-5


def test_the_trainer_stops_when_the_process_that_started_it_dies(tiny_model: Path, tmp_path: Path) -> None:
    pid_file = tmp_path / "trainer.pid"
    trainer = (f"{sys.executable} -m flywheel_trainer.train --model {tiny_model} --data {FIXTURE} --out {tmp_path / 'out'} "
               f"--max-steps 1000 --checkpoint-every 0 > {tmp_path / 'events.jsonl'} 2>/dev/null")
    # A parent shell that starts the trainer and waits, like a worker; then the parent is killed outright.
    parent = subprocess.Popen(["sh", "-c", f"{trainer} & echo $! > {pid_file}; wait"], env=ENV, start_new_session=True)
    events_file = tmp_path / "events.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (events_file.exists() and '"step":2,' in events_file.read_text()):
        time.sleep(0.1)
    trainer_pid = int(pid_file.read_text())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(trainer_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(trainer_pid, signal.SIGKILL)
        raise AssertionError("the trainer outlived its parent")
    events = [json.loads(line) for line in events_file.read_text().splitlines() if line.startswith("{")]
    assert events[-1]["event"] == "error" and events[-1]["kind"] == "terminated"
