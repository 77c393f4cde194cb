"""Training renders conversations exactly as a server will: the tokenizer saved with the adapter carries
the training template, every serving prompt is a prefix of the training text, and the loss covers
exactly what the assistant writes."""

import json
from pathlib import Path

from conftest import FIXTURE, run_trainer
from flywheel_trainer.chat_template import ASSISTANT_PROMPT, QWEN3_TOOLS_TEMPLATE
from flywheel_trainer.dataset import IGNORE, read_examples, render


def test_serving_prompts_are_prefixes_of_the_training_text_and_the_mask_is_the_assistant_turns(tiny_model: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    code, _ = run_trainer("--model", str(tiny_model), "--data", str(FIXTURE), "--out", str(tmp_path / "out"), "--max-steps", "1")
    assert code == 0
    training = AutoTokenizer.from_pretrained(str(tiny_model))
    serving = AutoTokenizer.from_pretrained(str(tmp_path / "out" / "adapter"))  # what a server loads with the adapter
    assert serving.chat_template == training.chat_template == QWEN3_TOOLS_TEMPLATE

    for example in read_examples(str(FIXTURE))[:10]:
        text = training.apply_chat_template(example.messages, tools=example.tools, tokenize=False)
        assert serving.apply_chat_template(example.messages, tools=example.tools, tokenize=False) == text
        expected_spans = []
        for i, message in enumerate(example.messages):
            if message["role"] != "assistant":
                continue
            prompt = serving.apply_chat_template(example.messages[:i], tools=example.tools, tokenize=False, add_generation_prompt=True)
            assert text.startswith(prompt) and prompt.endswith(ASSISTANT_PROMPT)
            upto = training.apply_chat_template(example.messages[: i + 1], tools=example.tools, tokenize=False)
            expected_spans.append(upto[len(prompt):].rstrip("\n"))
        rendered = render(training, example)
        assert rendered.input_ids == training.apply_chat_template(example.messages, tools=example.tools, tokenize=True, return_dict=True)["input_ids"]
        learned = training.decode([t for t in rendered.labels if t != IGNORE])
        assert learned == "".join(expected_spans)
        assert all(span.endswith("<|im_end|>") for span in expected_spans)


def test_tool_calls_and_results_use_qwen3s_blocks(tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model))
    example = read_examples(str(FIXTURE))[0]
    text = tokenizer.apply_chat_template(example.messages, tools=example.tools, tokenize=False)
    assert text.startswith("<|im_start|>system\n" + example.messages[0]["content"] + "\n\n# Tools\n")
    assert "<tools>\n" + "\n".join(json.dumps(tool, ensure_ascii=False) for tool in example.tools) + "\n</tools>" in text
    first_call = example.messages[2]["tool_calls"][0]["function"]
    assert f'<tool_call>\n{{"name": "{first_call["name"]}", "arguments": {first_call["arguments"]}}}\n</tool_call><|im_end|>' in text
    assert "<|im_start|>user\n<tool_response>\n" in text
    json.loads(first_call["arguments"])


def test_the_adapter_loads_with_peft_on_the_base_model_for_serving(tiny_model: Path, tmp_path: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    code, _ = run_trainer("--model", str(tiny_model), "--data", str(FIXTURE), "--out", str(tmp_path / "out"), "--max-steps", "4")
    assert code == 0
    adapter = tmp_path / "out" / "adapter"
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model))
    tokenizer = AutoTokenizer.from_pretrained(str(adapter))
    example = read_examples(str(FIXTURE))[0]
    ids = torch.tensor([render(tokenizer, example).input_ids])
    with torch.no_grad():
        before = base(input_ids=ids).logits
        tuned = PeftModel.from_pretrained(base, str(adapter))
        after = tuned(input_ids=ids).logits
    trained_b = [w for name, w in tuned.named_parameters() if "lora_B" in name]
    assert trained_b and all(float(w.abs().sum()) > 0 for w in trained_b)  # B starts at zero: it learned
    assert not torch.allclose(before, after)
