"""Write the JSON Schemas of the profile and the manifest to schemas/ (`make schema`; a test checks they are fresh).

python scripts/schemas.py          # write
python scripts/schemas.py --check  # exit 1 if schemas/ differs from the models
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from retune.manifest import Manifest
from retune.profile import Profile

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = {"profile.schema.json": Profile, "manifest.schema.json": Manifest}


def rendered() -> dict[str, str]:
    out = {}
    for filename, model in SCHEMAS.items():
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **model.model_json_schema()}
        out[filename] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def main(argv: list[str]) -> int:
    stale = []
    for filename, text in rendered().items():
        path = ROOT / "schemas" / filename
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(filename)
        else:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"stale schemas: {stale}; run make schema", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
