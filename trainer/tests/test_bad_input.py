"""Bad data and bad settings stop the trainer with a non-retryable error that names what is wrong."""

import json
from pathlib import Path

import pytest

from conftest import FIXTURE, run_trainer


@pytest.mark.parametrize(
    ("bad_line", "expected"),
    [
        ('{"messages": [{"role": "user", "content": "hi"}', "not valid JSON"),
        ('{"messages": [{"role": "robot", "content": "hi"}]}', "messages[0].role must be one of"),
        ('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": '
         '[{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}]}', "arguments is not JSON"),
        ('{"messages": [{"role": "user", "content": "hi"}]}', "no assistant message"),
    ],
)
def test_a_malformed_trajectory_line_is_named_by_file_and_line(tiny_model: Path, tmp_path: Path, bad_line: str, expected: str) -> None:
    lines = FIXTURE.read_text().splitlines()[:4]
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(lines[:2] + [bad_line] + lines[2:]) + "\n")
    code, events = run_trainer("--model", str(tiny_model), "--data", str(data), "--out", str(tmp_path / "out"), "--max-steps", "2")
    assert code == 2
    error = events[-1]
    assert error["event"] == "error" and error["kind"] == "bad_data" and error["retryable"] is False
    assert error["file"] == str(data) and error["line"] == 3
    assert f"{data}:3:" in error["message"] and expected in error["message"]
    assert not (tmp_path / "out").exists()


def test_a_missing_model_folder_is_bad_config(tmp_path: Path) -> None:
    code, events = run_trainer("--model", str(tmp_path / "nope"), "--data", str(FIXTURE), "--out", str(tmp_path / "out"))
    assert code == 2
    assert events[-1]["kind"] == "config" and events[-1]["retryable"] is False and "no config.json" in events[-1]["message"]


def test_the_gpu_profile_without_a_gpu_is_bad_config(tiny_model: Path, tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here")
    code, events = run_trainer("--model", str(tiny_model), "--data", str(FIXTURE), "--out", str(tmp_path / "out"),
                               "--profile", "qwen3-32b-h200")
    assert code == 2 and events[-1]["kind"] == "config"
    assert "needs a CUDA GPU" in events[-1]["message"]
    assert json.dumps(events)  # every line printed was a protocol event
