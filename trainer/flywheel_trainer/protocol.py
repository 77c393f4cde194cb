"""The progress protocol: one JSON object per line on stdout, read by the TypeScript GPU activity.

Events (every line has "event"):
  start       {profile, world_size, total_steps, start_step, examples, resumed_from, device, device_name, gpus}
  step        {step, total_steps, loss, lr, tokens, tokens_per_s, elapsed_s}
  checkpoint  {step, path}
  done        {output, metrics}
  error       {kind, retryable, message, [file, line]}

Exit codes: 0 done; 2 bad data or bad config (retrying cannot help); 75 out of memory or
preemption (retryable, EX_TEMPFAIL); 143 stopped by SIGTERM after a checkpoint; anything else is a
crash and is retried.
"""

import json
import sys
from typing import Any

EXIT_BAD_INPUT = 2
EXIT_RETRYABLE = 75
EXIT_TERMINATED = 143


class TrainerError(Exception):
    """A failure with a kind the activity classifies: bad_data and config are not retryable."""

    def __init__(self, kind: str, message: str, *, retryable: bool, file: str | None = None, line: int | None = None):
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable
        self.file = file
        self.line = line

    @property
    def exit_code(self) -> int:
        return EXIT_RETRYABLE if self.retryable else EXIT_BAD_INPUT


def bad_data(message: str, file: str, line: int | None = None) -> TrainerError:
    where = f"{file}:{line}" if line is not None else file
    return TrainerError("bad_data", f"{where}: {message}", retryable=False, file=file, line=line)


def bad_config(message: str) -> TrainerError:
    return TrainerError("config", message, retryable=False)


class Emitter:
    """Writes protocol lines; only rank 0 of a distributed run speaks."""

    def __init__(self, enabled: bool = True, stream: Any = None):
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stdout

    def emit(self, event: str, **fields: Any) -> None:
        if not self.enabled:
            return
        self.stream.write(json.dumps({"event": event, **fields}, separators=(",", ":")) + "\n")
        self.stream.flush()

    def error(self, error: TrainerError) -> None:
        fields: dict[str, Any] = {"kind": error.kind, "retryable": error.retryable, "message": str(error)}
        if error.file is not None:
            fields["file"] = error.file
        if error.line is not None:
            fields["line"] = error.line
        self.emit("error", **fields)
