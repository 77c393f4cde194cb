"""Packing and the chunked loss on CPU: a packed batch scores exactly what its conversations score one by
one, whichever attention kernel runs it, and the packed trainer resumes as exactly as the unpacked one."""

import json
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import ENV, FIXTURE, run_trainer, trainer_command
from flywheel_trainer.dataset import IGNORE, read_examples, render
from flywheel_trainer.packing import collate_packed, pack_examples
from flywheel_trainer.train import assistant_loss_sum, collate


def rendered_conversations(model_dir: Path, count: int) -> list:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    return [render(tokenizer, example) for example in read_examples(str(FIXTURE))[:count]], tokenizer


@pytest.mark.parametrize("attention", ["eager", "sdpa"])
def test_a_packed_batch_scores_what_its_conversations_score_one_by_one(tiny_model: Path, attention: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    conversations, tokenizer = rendered_conversations(tiny_model, 6)
    assert len({len(c.input_ids) for c in conversations}) > 1  # different lengths: packing has something to do
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model), dtype=torch.float32, local_files_only=True, attn_implementation=attention)
    model.eval()
    with torch.no_grad():
        one_by_one = sum(float(assistant_loss_sum(model, collate([c], tokenizer.pad_token_id, "cpu"))) for c in conversations)
        padded = float(assistant_loss_sum(model, collate(conversations, tokenizer.pad_token_id, "cpu")))
        packed = float(assistant_loss_sum(model, collate_packed(conversations, "cpu")))
        chunked = float(assistant_loss_sum(model, collate_packed(conversations, "cpu"), chunk=7))
    # No cross-contamination: a token attends only to its own conversation, at its own positions.
    assert packed == pytest.approx(one_by_one, rel=1e-5)
    assert padded == pytest.approx(one_by_one, rel=1e-5)
    # Scoring a few tokens at a time changes nothing but the memory the float logits take.
    assert chunked == pytest.approx(packed, rel=1e-6)


def test_a_packed_row_starts_every_conversation_afresh(tiny_model: Path) -> None:
    conversations, _ = rendered_conversations(tiny_model, 3)
    batch = collate_packed(conversations, "cpu")
    lengths = [len(c.input_ids) for c in conversations]
    assert batch["tokens"] == sum(lengths) and batch["input_ids"].shape == (1, sum(lengths))
    starts = [sum(lengths[:i]) for i in range(len(lengths))]
    positions = batch["position_ids"][0].tolist()
    labels = batch["labels"][0].tolist()
    for start, length in zip(starts, lengths):
        assert positions[start:start + length] == list(range(length))
        # No conversation's first token is a target: it would be predicted from the end of the one before.
        assert labels[start] == IGNORE


def test_packing_keeps_the_order_and_the_budget() -> None:
    from flywheel_trainer.dataset import Rendered

    examples = [Rendered(input_ids=[1] * n, labels=[IGNORE] * n, line=i) for i, n in enumerate([5, 4, 3, 9, 2, 12])]
    groups = pack_examples(examples, 10)
    assert [[e.line for e in g] for g in groups] == [[0, 1], [2], [3], [4], [5]]
    assert all(sum(len(e.input_ids) for e in g) <= 10 for g in groups if len(g) > 1)


def test_a_packed_run_resumes_after_kill_9_with_the_losses_of_an_uninterrupted_one(tiny_model: Path, tmp_path: Path) -> None:
    steps = "12"
    common = ["--model", str(tiny_model), "--data", str(FIXTURE), "--max-steps", steps, "--packing", "--loss-chunk", "16"]
    code, reference = run_trainer(*common, "--out", str(tmp_path / "ref"), "--checkpoint-every", "0")
    assert code == 0, reference
    args = [*common, "--out", str(tmp_path / "out"), "--checkpoint-every", "4", "--checkpoint-dir", str(tmp_path / "ckpt")]
    process = subprocess.Popen(trainer_command(*args), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        event = json.loads(line)
        if event["event"] == "checkpoint" and event["step"] == 8:
            process.kill()
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    code, events = run_trainer(*args, "--resume-from", str(tmp_path / "ckpt" / "ckpt-00000008"))
    assert code == 0, events
    expected = {e["step"]: e["loss"] for e in reference if e["event"] == "step"}
    resumed = [e for e in events if e["event"] == "step"]
    assert [e["step"] for e in resumed] == [9, 10, 11, 12]
    for e in resumed:
        assert abs(e["loss"] - expected[e["step"]]) < 1e-5, (e["step"], e["loss"], expected[e["step"]])
    # Packed, a step's tokens are the conversations' own: no padding counted.
    assert all(e["tokens"] > 0 for e in resumed)
