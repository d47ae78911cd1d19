"""Generated files are fresh: the schemas match the models, the layer's pins match constraints.txt."""

from __future__ import annotations

from scripts import lock, schemas


def test_schemas_match_the_models() -> None:
    assert schemas.main(["--check"]) == 0, "schemas/ is stale: run make schema"


def test_layer_requirements_match_the_constraints() -> None:
    assert lock.main(["--check"]) == 0, (
        "layers/core/requirements.txt is stale: run python scripts/lock.py --layer"
    )


def test_layer_requirements_pin_every_runtime_dependency() -> None:
    text = lock.LAYER_REQUIREMENTS.read_text()
    for name in ("pydantic", "pydantic-core", "aws-lambda-powertools", "boto3"):
        assert f"\n{name}==" in text
