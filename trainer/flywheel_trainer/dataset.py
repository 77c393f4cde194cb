"""Reads OpenAI chat fine-tuning JSONL (messages + tools) and renders each example into token ids
and labels with the chat template, the loss restricted to assistant tokens."""

import json
from dataclasses import dataclass
from typing import Any

from .protocol import bad_data

ROLES = {"system", "user", "assistant", "tool"}
IGNORE = -100


@dataclass
class Example:
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    line: int


def _check_tool_calls(calls: Any, path: str, line: int, index: int) -> None:
    if not isinstance(calls, list) or not calls:
        raise bad_data(f"messages[{index}].tool_calls must be a non-empty list", path, line)
    for j, call in enumerate(calls):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise bad_data(f"messages[{index}].tool_calls[{j}] needs function.name", path, line)
        arguments = fn.get("arguments")
        if isinstance(arguments, str):
            try:
                json.loads(arguments)
            except json.JSONDecodeError as error:
                raise bad_data(f"messages[{index}].tool_calls[{j}].function.arguments is not JSON ({error.msg})", path, line) from None
        elif not isinstance(arguments, dict):
            raise bad_data(f"messages[{index}].tool_calls[{j}].function.arguments must be a JSON string or object", path, line)


def parse_example(text: str, path: str, line: int) -> Example:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise bad_data(f"not valid JSON ({error.msg} at column {error.colno})", path, line) from None
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list) or not record["messages"]:
        raise bad_data('expected an object with a non-empty "messages" list', path, line)
    tools = record.get("tools", [])
    if not isinstance(tools, list):
        raise bad_data('"tools" must be a list', path, line)
    messages = record["messages"]
    has_assistant = False
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ROLES:
            raise bad_data(f"messages[{i}].role must be one of {sorted(ROLES)}, got {role!r}", path, line)
        content = message.get("content")
        if role == "assistant":
            has_assistant = True
            if message.get("tool_calls") is not None:
                _check_tool_calls(message["tool_calls"], path, line, i)
            elif not isinstance(content, str) or content == "":
                raise bad_data(f"messages[{i}] (assistant) has neither content nor tool_calls", path, line)
        elif not isinstance(content, str):
            raise bad_data(f"messages[{i}] ({role}) needs string content", path, line)
    if not has_assistant:
        raise bad_data("no assistant message: nothing to learn from", path, line)
    return Example(messages=messages, tools=tools, line=line)


def read_examples(path: str) -> list[Example]:
    """Every example of a JSONL file; a malformed line stops with its file and line number."""
    examples: list[Example] = []
    try:
        with open(path, encoding="utf-8") as handle:
            for number, text in enumerate(handle, start=1):
                if text.strip():
                    examples.append(parse_example(text, path, number))
    except FileNotFoundError:
        raise bad_data("training file not found", path) from None
    except UnicodeDecodeError as error:
        raise bad_data(f"not UTF-8 text ({error.reason})", path) from None
    if not examples:
        raise bad_data("no training examples", path)
    return examples


@dataclass
class Rendered:
    input_ids: list[int]
    labels: list[int]
    line: int

    @property
    def assistant_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE)


def render(tokenizer: Any, example: Example) -> Rendered:
    """Token ids of the whole conversation; labels keep only the tokens inside generation blocks."""
    encoded = tokenizer.apply_chat_template(
        example.messages,
        tools=example.tools or None,
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    ids = list(encoded["input_ids"])
    mask = list(encoded["assistant_masks"])
    labels = [token if keep else IGNORE for token, keep in zip(ids, mask)]
    return Rendered(input_ids=ids, labels=labels, line=example.line)
