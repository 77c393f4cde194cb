"""Sequence packing: the conversations of a micro-batch laid end to end in one row instead of padded rows.

Each conversation keeps its own positions (they restart at 0) and attends only to itself: with position ids
that restart and no attention mask, transformers builds a block-diagonal causal mask (sdpa, eager, flex)
or runs variable-length attention (flash-attention). The first token of every conversation is never a
target, so no conversation learns from the end of the one before it. The loss is the same sum over
assistant tokens as unpacked; only the padding, and the attention across it, is gone.
"""

from typing import Any

from .dataset import IGNORE, Rendered


def pack_examples(examples: list[Rendered], token_budget: int) -> list[list[Rendered]]:
    """Consecutive examples grouped into rows of at most `token_budget` tokens, in order (deterministic,
    so a resumed run packs its steps as the first attempt did). One longer than the budget is a row alone."""
    groups: list[list[Rendered]] = []
    used = 0
    for example in examples:
        length = len(example.input_ids)
        if groups and used + length <= token_budget:
            groups[-1].append(example)
            used += length
        else:
            groups.append([example])
            used = length
    return groups


def collate_packed(examples: list[Rendered], device: Any) -> dict[str, Any]:
    """One row holding the examples end to end: input ids, labels (each conversation's first token not a
    target) and position ids restarting per conversation. No padding, so no attention mask."""
    import torch

    ids: list[int] = []
    labels: list[int] = []
    positions: list[int] = []
    for example in examples:
        ids.extend(example.input_ids)
        labels.extend([IGNORE] + list(example.labels[1:]))
        positions.extend(range(len(example.input_ids)))
    as_row = lambda values: torch.tensor([values], dtype=torch.long).to(device)  # noqa: E731
    return {"input_ids": as_row(ids), "labels": as_row(labels), "position_ids": as_row(positions), "tokens": len(ids)}
