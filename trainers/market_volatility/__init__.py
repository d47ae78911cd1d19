"""retune's reference trainers for the market-volatility task (docs/trainer-contract.md).

Two SageMaker bring-your-own images, one program each, both with a train and an evaluate mode:

    retune/market-volatility-xgb   python -m trainers.market_volatility.xgb train   (in the image: market_volatility.xgb)
    retune/market-volatility-mlp   python -m trainers.market_volatility.mlp train   (in the image: market_volatility.mlp)

The package uses relative imports only, so it runs as `trainers.market_volatility` from the repository and as
`market_volatility` inside an image. See README.md beside this file.
"""
