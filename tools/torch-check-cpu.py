"""Run by the Makefile in .venv-tools/torch once it is installed: stop with a clear message unless torch is a CPU
build (a CUDA build from PyPI is several GB, and nothing here has a GPU)."""

import sys

import torch

if torch.version.cuda is not None:
    sys.exit(
        f"{sys.prefix}: torch {torch.__version__} is a CUDA build (CUDA {torch.version.cuda}); the sequence trainer "
        "needs the CPU build pinned in tools/torch-requirements.txt (torch==2.13.0+cpu, a wheel in pip's find-links "
        f"on this machine and CI). Remove {sys.prefix} and run `make torch-venv` again where that wheel is on disk."
    )
print(f"{sys.prefix}: torch {torch.__version__}, CPU build")
