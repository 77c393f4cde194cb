"""Builds a small random-initialised Qwen3-architecture model and a byte-level BPE tokenizer
trained on the given conversations, entirely offline. Used by the tests and the tiny-cpu profile,
and (with --preset) for the GPU check's 0.6B model.

    python -m flywheel_trainer.tiny_model --out /tmp/tiny --corpus train.jsonl
"""

import argparse
import json
from typing import Any

from .chat_template import QWEN3_TOOLS_TEMPLATE, SPECIAL_TOKENS
from .dataset import read_examples

# Model shapes, by name. "tiny" trains dozens of steps on a laptop CPU in seconds; "qwen3-0.6b"
# has the shapes of Qwen3-0.6B (about 0.6B parameters with its 151,936-token vocabulary).
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, head_dim=16, tie_word_embeddings=True),
    "qwen3-0.6b": dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28, num_attention_heads=16,
                       num_key_value_heads=8, head_dim=128, tie_word_embeddings=True, vocab_size=151936),
    # Qwen3-32B's layer shapes (hidden 5,120, 64 query and 8 key-value heads of 128, MLP 25,600, untied
    # embeddings) with 4 of its 64 layers: the per-layer work of the weekly run on one GPU, random weights.
    "qwen3-32b-layers": dict(hidden_size=5120, intermediate_size=25600, num_hidden_layers=4, num_attention_heads=64,
                             num_key_value_heads=8, head_dim=128, tie_word_embeddings=False, vocab_size=151936),
}


def corpus_texts(paths: list[str]) -> list[str]:
    """Plain texts to learn merges from: every message's content and tool arguments, and the tool schemas."""
    texts: list[str] = []
    for path in paths:
        for example in read_examples(path):
            texts.append(json.dumps(example.tools))
            for message in example.messages:
                if message.get("content"):
                    texts.append(message["content"])
                for call in message.get("tool_calls") or []:
                    texts.append(json.dumps(call["function"]))
    return texts


def build_tokenizer(texts: list[str], vocab_size: int) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    core.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   chat_template=QWEN3_TOOLS_TEMPLATE, model_max_length=32768)


def build_model(preset: str, vocab_size: int, seed: int, layers: int | None = None) -> Any:
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    shape = dict(PRESETS[preset])
    if layers is not None:
        shape["num_hidden_layers"] = layers
    shape["vocab_size"] = max(shape.get("vocab_size", 0), vocab_size)
    config = Qwen3Config(max_position_embeddings=32768, rope_theta=1_000_000.0, **shape)
    torch.manual_seed(seed)
    return Qwen3ForCausalLM(config)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="directory to write the model and tokenizer to")
    parser.add_argument("--corpus", action="append", default=[], help="chat JSONL to learn the tokenizer from (repeatable)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    parser.add_argument("--vocab-size", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.corpus:
        parser.error("--corpus is required: the tokenizer learns its merges from the training conversations")
    tokenizer = build_tokenizer(corpus_texts(args.corpus), args.vocab_size)
    model = build_model(args.preset, len(tokenizer), args.seed)
    model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    parameters = sum(p.numel() for p in model.parameters())
    print(json.dumps({"event": "model", "path": args.out, "preset": args.preset, "parameters": parameters, "vocab_size": len(tokenizer)}))


if __name__ == "__main__":
    main()
