"""Transforms template.yaml with the SAM translator, offline, and prints the CloudFormation it becomes.

Run with the SAM CLI's own interpreter (`.venv-tools/sam/bin/python`), which has `samtranslator`; the project's
venv does not (aws-sam-translator pins a pydantic the project's does not use). The infrastructure tests lint and check
its output; the local stack reads the functions' roles from it (`retune_local.template.transformed`).

    python sam_transform.py TEMPLATE [Name=Value ...]

Local CodeUri/ContentUri paths become placeholder S3 URIs, as `sam package` would make them. The transform is
what CloudFormation runs on deploy: it names the resources SAM generates (`<Function><Event>` rules, roles,
event-invoke configs) and resolves parameter values where SAM does (Tracing).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class _NoManagedPolicies:
    """The template names no managed policy; SAM's own (basic execution, X-Ray) come from its bundled map."""

    def load(self) -> dict[str, str]:
        return {}


def _packaged(template: dict[str, Any]) -> dict[str, Any]:
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            value = properties.get(key)
            if isinstance(value, str) and not value.startswith("s3://"):
                properties[key] = "s3://packaged-artifacts/" + value.strip("/")
    return template


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(argv[1], encoding="utf-8") as handle:
        template = _packaged(yaml_parse(handle.read()))
    parameters = dict(arg.split("=", 1) for arg in argv[2:])
    output = transform(template, parameters, _NoManagedPolicies())
    json.dump(output, sys.stdout, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
