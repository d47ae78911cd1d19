"""Makes builtin-xgboost-1.7-model.tar.gz and builtin-xgboost-1.7-model.json: a model as SageMaker's built-in
XGBoost 1.7-1 saves it, for the churn evaluator's tests. Run it with XGBoost 1.7 (the built-in algorithm's):

    .venv-tools/<an xgboost 1.7 venv>/bin/python tests/trainers/data/make_builtin_xgboost_model.py

As the algorithm does (sagemaker-xgboost-container, algorithm_mode/train.py and train_utils.py at 1.7-1):
xgboost.train with an EarlyStopping callback keeping the best model (save_best=True), then
Booster.save_model("<model dir>/xgboost-model"), which under XGBoost 1.7 writes its old binary format; SageMaker
packs the model directory as model.tar.gz. The JSON file records XGBoost 1.7's own AUC of the model on the test
rows (test.csv here), the number the evaluator must reproduce.
"""

import json
import sys
import tarfile
from pathlib import Path

import numpy as np
import xgboost

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "local"))
from retune_local import churn  # noqa: E402

assert xgboost.__version__.startswith("1.7."), f"run with XGBoost 1.7, not {xgboost.__version__}"
spec = churn.drops(2, rows={"train": 1000, "validation": 400, "test": 200})[1]
x, y = churn.customers(spec, "train")
xv, yv = churn.customers(spec, "validation")
xt, yt = churn.customers(spec, "test")
np.savetxt(HERE / "builtin-xgboost-test.csv", np.column_stack([yt, xt]), fmt="%.10g", delimiter=",")
params = {"objective": "binary:logistic", "eval_metric": "auc", "max_depth": 2, "eta": 0.1, "nthread": 1}
stop = xgboost.callback.EarlyStopping(rounds=10, data_name="validation", metric_name="auc", save_best=True)
booster = xgboost.train(
    params,
    xgboost.DMatrix(x, label=y),
    40,
    evals=[(xgboost.DMatrix(xv, label=yv), "validation")],
    callbacks=[stop],
    verbose_eval=False,
)
model_dir = HERE / "model"
model_dir.mkdir(exist_ok=True)
booster.save_model(str(model_dir / "xgboost-model"))
with tarfile.open(HERE / "builtin-xgboost-1.7-model.tar.gz", "w:gz") as archive:
    archive.add(model_dir / "xgboost-model", arcname="xgboost-model")
(model_dir / "xgboost-model").unlink()
model_dir.rmdir()
own = booster.eval(xgboost.DMatrix(xt, label=yt), name="test")  # "[0]\ttest-auc:0.83..."
document = {
    "xgboost_version": xgboost.__version__,
    "trees": booster.num_boosted_rounds(),
    "attributes": booster.attributes(),
    "test_auc_by_xgboost": float(own.split("test-auc:")[1]),
    "test_rows": len(yt),
}
(HERE / "builtin-xgboost-1.7-model.json").write_text(json.dumps(document, indent=2) + "\n")
print(document)
