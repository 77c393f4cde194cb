"""The chat template used for training and, saved next to the adapter, for serving.

It renders Qwen3's tool-calling format in non-thinking mode: tools in the system turn, calls as
<tool_call> JSON blocks, tool results as <tool_response> blocks inside a user turn. Two properties
matter for training:

- It is prefix-stable: every assistant turn starts with exactly the generation prompt
  (`<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n`), so the prompt a server renders for the
  next turn is a prefix of the conversation the model was trained on.
- It marks what the assistant writes with `{% generation %}` blocks, so transformers can return the
  assistant-token mask that restricts the loss to assistant tokens.
"""

ASSISTANT_PROMPT = "<|im_start|>assistant\n<think>\n\n</think>\n\n"

QWEN3_TOOLS_TEMPLATE = (
    "{%- set tool_preamble -%}\n"
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
    "{%- for tool in tools %}{{- '\\n' }}{{- tool | tojson }}{%- endfor %}"
    "{{- '\\n</tools>\\n\\n' }}"
    "For each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
    "{%- endset -%}\n"
    # The system turn: the conversation's system message, then the tool block when tools are given.
    "{%- if messages and messages[0].role == 'system' %}\n"
    "{{- '<|im_start|>system\\n' + messages[0].content }}"
    "{%- if tools %}{{- '\\n\\n' + tool_preamble }}{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- elif tools %}\n"
    "{{- '<|im_start|>system\\n' + tool_preamble + '<|im_end|>\\n' }}"
    "{%- endif %}\n"
    "{%- for message in messages %}\n"
    "{%- if message.role == 'system' %}\n"
    "{%- if not loop.first %}{{- raise_exception('only the first message may be a system message') }}{%- endif %}\n"
    "{%- elif message.role == 'user' %}\n"
    "{{- '<|im_start|>user\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- elif message.role == 'assistant' %}\n"
    "{{- '<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n' }}"
    "{%- generation %}"
    "{%- if message.content %}{{- message.content }}{%- endif %}"
    "{%- if message.tool_calls %}"
    "{%- for call in message.tool_calls %}"
    "{%- if message.content or not loop.first %}{{- '\\n' }}{%- endif %}"
    "{%- set fn = call.function if call.function is defined else call %}"
    "{{- '<tool_call>\\n{\"name\": \"' + fn.name + '\", \"arguments\": ' }}"
    "{%- if fn.arguments is string %}{{- fn.arguments }}{%- else %}{{- fn.arguments | tojson }}{%- endif %}"
    "{{- '}\\n</tool_call>' }}"
    "{%- endfor %}"
    "{%- endif %}"
    "{{- '<|im_end|>' }}"
    "{%- endgeneration %}"
    "{{- '\\n' }}"
    "{%- elif message.role == 'tool' %}\n"
    "{%- if loop.first or loop.previtem.role != 'tool' %}{{- '<|im_start|>user' }}{%- endif %}"
    "{{- '\\n<tool_response>\\n' + message.content + '\\n</tool_response>' }}"
    "{%- if loop.last or loop.nextitem.role != 'tool' %}{{- '<|im_end|>\\n' }}{%- endif %}"
    "{%- else %}\n"
    "{{- raise_exception('unknown role ' + message.role) }}"
    "{%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n' }}{%- endif %}\n"
)

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
    "<think>",
    "</think>",
]
