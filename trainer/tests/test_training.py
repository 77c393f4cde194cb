"""The trainer as a real process on a tiny random Qwen3 model: training, checkpoints, resume, SIGTERM."""

import json
import signal
import subprocess
from pathlib import Path

from conftest import ENV, FIXTURE, parse_events, run_trainer, trainer_command

STEPS = "24"


def steps_of(events: list[dict]) -> list[dict]:
    return [e for e in events if e["event"] == "step"]


def test_the_tiny_model_trains_and_its_loss_falls(tiny_model: Path, tmp_path: Path) -> None:
    code, events = run_trainer("--model", str(tiny_model), "--data", str(FIXTURE), "--out", str(tmp_path / "out"),
                               "--max-steps", STEPS, "--checkpoint-every", "8")
    assert code == 0, events
    steps = steps_of(events)
    assert [e["step"] for e in steps] == list(range(1, 25))
    assert all(e["total_steps"] == 24 and e["tokens"] > 0 and e["tokens_per_s"] > 0 for e in steps)
    first, last = sum(e["loss"] for e in steps[:5]) / 5, sum(e["loss"] for e in steps[-5:]) / 5
    assert last < first - 0.1, (first, last)
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == [8, 16]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["steps"] == 24 and metrics["examples"] == 40 and metrics["final_loss"] < metrics["initial_loss"]
    adapter = tmp_path / "out" / "adapter"
    assert (adapter / "adapter_model.safetensors").stat().st_size > 0
    assert json.loads((adapter / "adapter_config.json").read_text())["r"] == 8
    # keep_checkpoints=2 for tiny-cpu: both are still there, complete (the state file is written last)
    assert sorted(p.name for p in (tmp_path / "out" / "checkpoints").iterdir()) == ["ckpt-00000008", "ckpt-00000016"]


def test_a_killed_run_resumes_from_its_last_checkpoint_and_continues_the_step_count(tiny_model: Path, tmp_path: Path) -> None:
    reference_code, reference = run_trainer("--model", str(tiny_model), "--data", str(FIXTURE), "--out", str(tmp_path / "ref"),
                                            "--max-steps", STEPS, "--checkpoint-every", "0")
    assert reference_code == 0
    checkpoints = tmp_path / "ckpt"
    args = ["--model", str(tiny_model), "--data", str(FIXTURE), "--out", str(tmp_path / "out"), "--max-steps", STEPS,
            "--checkpoint-every", "5", "--checkpoint-dir", str(checkpoints)]
    process = subprocess.Popen(trainer_command(*args), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    seen = []
    assert process.stdout is not None
    for line in process.stdout:  # kill -9 (a lost worker) right after the checkpoint at step 10
        seen.append(json.loads(line))
        if seen[-1]["event"] == "checkpoint" and seen[-1]["step"] == 10:
            process.kill()
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    latest = sorted(checkpoints.glob("ckpt-*"))[-1]
    assert latest.name == "ckpt-00000010"

    code, events = run_trainer(*args, "--resume-from", str(latest))
    assert code == 0, events
    assert events[0]["event"] == "start" and events[0]["start_step"] == 11
    # On CPU the run holds no GPU: the step reports no GPU-seconds for it.
    assert (events[0]["device"], events[0]["device_name"], events[0]["gpus"]) == ("cpu", "cpu", 0)
    resumed = steps_of(events)
    assert [e["step"] for e in resumed] == list(range(11, 25))
    # Same data order, weights, optimizer and schedule as the uninterrupted run: the same losses.
    expected = {e["step"]: e["loss"] for e in steps_of(reference)}
    for e in resumed:
        assert abs(e["loss"] - expected[e["step"]]) < 1e-5, (e["step"], e["loss"], expected[e["step"]])
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["resumed_at_step"] == 11


def test_sigterm_writes_a_checkpoint_and_exits_143(tiny_model: Path, tmp_path: Path) -> None:
    checkpoints = tmp_path / "ckpt"
    process = subprocess.Popen(trainer_command("--model", str(tiny_model), "--data", str(FIXTURE), "--out", str(tmp_path / "out"),
                                               "--max-steps", "200", "--checkpoint-every", "0", "--checkpoint-dir", str(checkpoints)),
                               env=ENV, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if json.loads(line).get("step") == 3:
            process.send_signal(signal.SIGTERM)
            break
    rest = parse_events(process.stdout.read())
    assert process.wait(timeout=60) == 143
    assert rest[-1] == {"event": "error", "kind": "terminated", "retryable": True, "message": "stopped by SIGTERM"}
    saved = [e for e in rest if e["event"] == "checkpoint"]
    assert len(saved) == 1 and saved[0]["step"] >= 3
    assert (checkpoints / f"ckpt-{saved[0]['step']:08d}" / "trainer_state.json").is_file()
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_resuming_with_other_data_is_refused_as_bad_config(tiny_model: Path, tmp_path: Path) -> None:
    code, _ = run_trainer("--model", str(tiny_model), "--data", str(FIXTURE), "--out", str(tmp_path / "a"), "--max-steps", "4",
                          "--checkpoint-every", "2")
    assert code == 0
    other = tmp_path / "other.jsonl"
    other.write_text("".join(FIXTURE.read_text().splitlines(keepends=True)[:20]))
    code, events = run_trainer("--model", str(tiny_model), "--data", str(other), "--out", str(tmp_path / "b"), "--max-steps", "4",
                               "--resume-from", str(tmp_path / "a" / "checkpoints" / "ckpt-00000002"))
    assert code == 2
    assert events[-1]["kind"] == "config" and events[-1]["retryable"] is False
    assert "data_digest" in events[-1]["message"] and "--resume-from" in events[-1]["message"]
