"""The XGBoost trainer (image retune/market-volatility-xgb): `python -m trainers.market_volatility xgb train`.

Train mode boosts one tree per round and scores the validation channel after every round; every `eval_every`
rounds (one epoch) it prints the best validation RMSE so far, the epoch and the compute spent: the number of tree
nodes built so far, every tree counted, including those after the best round (on this workload nodes track CPU
time; rounds do not: a round costs several times more at depth 10 than at depth 3).

Hyperparameters (strings): num_round (300), eval_every (10), early_stopping_rounds (40, in boosting rounds: the
trainer's own patience), eta, max_depth, min_child_weight, subsample, colsample_bytree, lambda, alpha, gamma,
max_bin, seed (0) and nthread (1: the trials of a round run side by side; raise it on a dedicated instance).

Patience: training stops at the first epoch end at which no round of the last `early_stopping_rounds` has improved
the validation RMSE, so it stops at most `eval_every - 1` rounds later than XGBoost's own early stopping would,
and every round it builds is reported. model/ holds the booster truncated to its best round, saved (atomically)
at each epoch end where the best round moved: what model/ holds always scores what was printed last.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import xgboost

from . import models
from .job import Hyperparameters, Job, JobError, metric_line, rmse, run

KIND = "xgb"


def booster_params(hp: Hyperparameters) -> dict[str, object]:
    return {
        "objective": "reg:squarederror",
        "tree_method": "hist",
        "eta": hp.number("eta", 0.1, 0.0, 1.0, open_low=True),
        "max_depth": hp.integer("max_depth", 6, minimum=1),
        "min_child_weight": hp.number("min_child_weight", 1.0, 0.0, math.inf),
        "subsample": hp.number("subsample", 1.0, 0.0, 1.0, open_low=True),
        "colsample_bytree": hp.number("colsample_bytree", 1.0, 0.0, 1.0, open_low=True),
        "lambda": hp.number("lambda", 1.0, 0.0, math.inf),
        "alpha": hp.number("alpha", 0.0, 0.0, math.inf),
        "gamma": hp.number("gamma", 0.0, 0.0, math.inf),
        "max_bin": hp.integer("max_bin", 256, minimum=2),
        "seed": hp.integer("seed", 0, minimum=0),
        "verbosity": 1,
    }


def count_nodes(booster: xgboost.Booster, start: int, end: int) -> int:
    """Nodes (splits and leaves) of the trees of rounds [start, end): one line each in XGBoost's text dump."""
    if end <= start:
        return 0
    return sum(tree.count("\n") for tree in booster[start:end].get_dump())


def train(job: Job, hp: Hyperparameters) -> None:
    num_round = hp.integer("num_round", 300)
    eval_every = hp.integer("eval_every", 10)
    patience = hp.integer("early_stopping_rounds", 40)
    nthread = hp.integer("nthread", 1)
    params = {**booster_params(hp), "nthread": nthread}
    x_train, y_train = job.read_csv("train")
    x_valid, y_valid = job.read_csv("validation")
    if x_valid.shape[1] != x_train.shape[1]:
        raise JobError(f"validation has {x_valid.shape[1]} features, train has {x_train.shape[1]}")
    dtrain = xgboost.DMatrix(x_train, label=y_train, nthread=nthread)
    dvalid = xgboost.DMatrix(x_valid, nthread=nthread)
    # Both matrices in the booster's cache: predicting the validation rows each round adds only the new tree.
    booster = xgboost.Booster(params, [dtrain, dvalid])
    best, best_round, saved_round = math.inf, -1, -1
    nodes, counted, epoch = 0, 0, 0
    for i in range(num_round):
        booster.update(dtrain, i)
        score = rmse(y_valid, booster.predict(dvalid))
        if not math.isfinite(score):
            raise JobError(f"round {i + 1}: the validation rmse is {score}; lower eta")
        if score < best:
            best, best_round = score, i
        if job.stop_requested:
            return  # stopped: model/ holds the best model of the epochs reported
        done = i + 1
        if done % eval_every and done < num_round:
            continue
        epoch += 1
        nodes += count_nodes(booster, counted, done)
        counted = done
        if best_round != saved_round:
            save(job, booster, best_round, best, epoch, x_train.shape[1], hp)
            saved_round = best_round
        metric_line(epoch, best, nodes)
        if done - (best_round + 1) >= patience:
            return


def save(
    job: Job,
    booster: xgboost.Booster,
    best_round: int,
    best: float,
    epoch: int,
    features: int,
    hp: Hyperparameters,
) -> None:
    job.save(models.XGB_FILE, lambda path: booster[: best_round + 1].save_model(str(path)))
    job.save_json(
        models.META,
        models.meta_document(
            KIND,
            models.XGB_FILE,
            features,
            rounds=best_round + 1,
            epoch=epoch,
            validation_rmse=best,
            hyperparameters=hp.values,
            xgboost_version=xgboost.__version__,
        ),
    )


def main(root: Path | str | None = None) -> int:
    """Run one job (train or evaluate mode) in `root` (default: $SAGEMAKER_BASE_DIR, else /opt/ml)."""
    return run(train, models.evaluate, root)


if __name__ == "__main__":  # SageMaker runs the image as `<entrypoint> train`; the argument is not needed
    sys.exit(main())
