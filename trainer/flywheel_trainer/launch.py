"""Starts torchrun (one rank per GPU) in this process after tying it to the worker's lifetime, so
that a dead worker takes torchrun, and with it every rank, down.

    python -m flywheel_trainer.launch --nproc-per-node 8 -- --model ... --data ... --out ...
"""

import sys

from .parent_watch import die_with_parent


def main(argv: list[str]) -> None:
    if "--" not in argv:
        sys.exit("usage: python -m flywheel_trainer.launch --nproc-per-node N -- <trainer arguments>")
    split = argv.index("--")
    launcher, trainer = argv[:split], argv[split + 1:]
    die_with_parent()
    from torch.distributed.run import main as torchrun

    torchrun(["--standalone", *launcher, "-m", "flywheel_trainer.train", *trainer])


if __name__ == "__main__":
    main(sys.argv[1:])
