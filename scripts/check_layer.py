"""Checks the layer `sam build` made: it holds retune, its compiled code is for Lambda's arm64 (aarch64), and
every module ships the bytecode Lambda's Python 3.13 uses without checking the source (layers/core/Makefile).

    python scripts/check_layer.py BUILD_DIR [--layer CoreLayer]

The layer is built with `BuildArchitecture: arm64`, so pip fetched aarch64 wheels that this machine may not be
able to import; the check reads the ELF headers instead of importing. Exits 0 when every check passes, 1 with
one line per problem otherwise.
"""

from __future__ import annotations

import argparse
import struct
import sys
from pathlib import Path

EM_AARCH64 = 183  # ELF e_machine of 64-bit ARM
EM_NAMES = {3: "i386", 40: "arm", 62: "x86_64", 183: "aarch64"}
LAMBDA_PYTHON_TAG = "cpython-313"
# Lambda's limit for a function and all its layers, unzipped.
UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024
# The flags word of a .pyc (PEP 552): bit 0 hash-based, bit 1 check the source. Unchecked hash-based is 0b01.
UNCHECKED_HASH = 0b01


def elf_machine(path: Path) -> int | None:
    """The e_machine of an ELF file, or None if the file is not ELF."""
    with path.open("rb") as handle:
        header = handle.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    # EI_DATA (byte 5): 1 little-endian, 2 big-endian; e_machine is the half-word at offset 18.
    order = "<" if header[5] == 1 else ">"
    (machine,) = struct.unpack_from(order + "H", header, 18)
    return int(machine)


def check_layer(layer: Path) -> list[str]:
    problems: list[str] = []
    site = layer / "python"
    if not (site / "retune" / "__init__.py").is_file():
        problems.append(f"{site}/retune/__init__.py is missing: the layer does not hold the retune package")

    pydantic_core = sorted(site.glob("pydantic_core/_pydantic_core*.so"))
    if not pydantic_core:
        problems.append(f"{site}/pydantic_core/_pydantic_core*.so is missing: pydantic's compiled core")

    binaries = sorted(p for p in site.rglob("*.so*") if p.is_file())
    for path in binaries:
        machine = elf_machine(path)
        if machine is None:
            continue
        if machine != EM_AARCH64:
            name = EM_NAMES.get(machine, str(machine))
            problems.append(f"{path.relative_to(layer)} is built for {name}, not aarch64")
        tag = path.name.split(".")[1] if path.name.count(".") >= 2 else ""
        if tag.startswith("cpython-") and not tag.startswith(LAMBDA_PYTHON_TAG):
            problems.append(f"{path.relative_to(layer)} is built for {tag}, not Lambda's {LAMBDA_PYTHON_TAG}")
    for path in pydantic_core:
        if elf_machine(path) is None:
            problems.append(f"{path.relative_to(layer)} is not an ELF shared object")

    problems.extend(bytecode_problems(site))
    size = sum(p.stat().st_size for p in layer.rglob("*") if p.is_file())
    if size > UNZIPPED_LIMIT_BYTES:
        problems.append(f"the layer is {size / 2**20:.0f} MiB unzipped, over Lambda's 250 MiB")
    return problems


def bytecode_problems(site: Path) -> list[str]:
    """Every module's bytecode is there, for Lambda's Python, unchecked: else each cold start compiles it."""
    missing, checked = [], []
    for source in sorted(site.rglob("*.py")):
        compiled = source.parent / "__pycache__" / f"{source.stem}.{LAMBDA_PYTHON_TAG}.pyc"
        if not compiled.is_file():
            missing.append(source)
            continue
        with compiled.open("rb") as handle:
            header = handle.read(8)
        if len(header) < 8 or struct.unpack("<I", header[4:8])[0] != UNCHECKED_HASH:
            checked.append(compiled)
    problems = []
    for paths, what in (
        (missing, "has no {tag} bytecode"),
        (checked, "is not unchecked hash-based bytecode (compileall --invalidation-mode unchecked-hash)"),
    ):
        if paths:
            more = f" (and {len(paths) - 1} more)" if len(paths) > 1 else ""
            text = what.format(tag=LAMBDA_PYTHON_TAG)
            problems.append(
                f"{paths[0].relative_to(site.parent)} {text}{more}: Lambda would compile it at every cold start"
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "build_dir", type=Path, help="the --build-dir of `sam build` (default .aws-sam/build)"
    )
    parser.add_argument(
        "--layer", default="CoreLayer", help="the layer's logical id (its folder in the build)"
    )
    args = parser.parse_args(argv)

    layer = args.build_dir / args.layer
    if not layer.is_dir():
        print(f"{layer} does not exist: run `sam build` first", file=sys.stderr)
        return 1
    problems = check_layer(layer)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    binaries = sum(1 for p in layer.rglob("*.so*") if p.is_file() and elf_machine(p) is not None)
    size = sum(p.stat().st_size for p in layer.rglob("*") if p.is_file())
    print(
        f"{layer}: retune present, {binaries} shared object(s), all aarch64, bytecode for every module, "
        f"{size / 2**20:.0f} MiB unzipped"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
