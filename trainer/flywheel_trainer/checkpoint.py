"""Checkpoints: the trainable weights, optimizer, schedule and random state after an optimizer step,
written to a temporary folder and renamed into place, so a half-written checkpoint is never found."""

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from .protocol import bad_config

STATE_FILE = "trainer_state.json"


def checkpoint_name(step: int) -> str:
    return f"ckpt-{step:08d}"


def save(directory: str, step: int, weights: dict[str, torch.Tensor], optimizer: dict[str, Any],
         scheduler: dict[str, Any], state: dict[str, Any]) -> str:
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    final = root / checkpoint_name(step)
    staging = root / f".staging-{checkpoint_name(step)}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    torch.save(weights, staging / "weights.pt")
    torch.save({"optimizer": optimizer, "scheduler": scheduler, "rng": _rng_state()}, staging / "optimizer.pt")
    (staging / STATE_FILE).write_text(json.dumps({**state, "step": step}, indent=2))
    for entry in staging.iterdir():
        with open(entry, "rb") as handle:
            os.fsync(handle.fileno())
    shutil.rmtree(final, ignore_errors=True)
    os.replace(staging, final)
    return str(final)


def prune(directory: str, keep: int) -> None:
    """Keeps the newest `keep` checkpoints: a 12-hour run must not fill the disk."""
    found = sorted(p for p in Path(directory).glob("ckpt-*") if p.is_dir())
    for old in found[: max(0, len(found) - keep)]:
        shutil.rmtree(old, ignore_errors=True)


def load(path: str, expected: dict[str, Any]) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict[str, Any]]:
    """Reads a checkpoint, refusing one written for other training data or settings."""
    root = Path(path)
    if not (root / STATE_FILE).is_file():
        raise bad_config(f"--resume-from {path}: no {STATE_FILE} there; pass a ckpt-* folder the trainer wrote")
    state = json.loads((root / STATE_FILE).read_text())
    for field, value in expected.items():
        if state.get(field) != value:
            raise bad_config(
                f"--resume-from {path}: the checkpoint was written with {field}={state.get(field)!r}, this run has {value!r}; "
                "resume only the run that wrote it, or start without --resume-from"
            )
    weights = torch.load(root / "weights.pt", map_location="cpu", weights_only=True)
    rest = torch.load(root / "optimizer.pt", map_location="cpu", weights_only=False)
    return state, weights, rest


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
