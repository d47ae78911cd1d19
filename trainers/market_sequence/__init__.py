"""retune's sequence-model trainer for the market-volatility task (docs/trainer-contract.md): an LSTM or a
Transformer in PyTorch, one SageMaker bring-your-own image with a train and an evaluate mode.

    retune/market-sequence   python -m trainers.market_sequence train   (in the image: the same)

It runs on Python 3.11 with torch (locally in .venv-tools/torch, `make torch-venv`), never in retune's control plane.
It shares the SageMaker job contract's helpers with trainers.market_volatility (job.py, numpy only). See README.md
beside this file.
"""
