"""scripts/check_layer.py reads ELF headers and .pyc headers: an aarch64 layer holding retune, with unchecked
bytecode for every module, passes; else it fails."""

from __future__ import annotations

import py_compile
import struct
from pathlib import Path

import pytest

from scripts import check_layer

EM_X86_64 = 62


def elf(machine: int) -> bytes:
    """The first bytes of a little-endian 64-bit ELF shared object for `machine`."""
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    return ident + struct.pack("<HH", 3, machine) + bytes(44)


def module(path: Path, mode: py_compile.PycInvalidationMode | None) -> None:
    """A source file and, unless mode is None, its bytecode as Python 3.13 names it (the tests run on 3.13)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("VALUE = 1\n")
    if mode is not None:
        cfile = path.parent / "__pycache__" / f"{path.stem}.{check_layer.LAMBDA_PYTHON_TAG}.pyc"
        py_compile.compile(str(path), cfile=str(cfile), doraise=True, invalidation_mode=mode)


def make_layer(root: Path, machine: int, with_retune: bool = True) -> Path:
    site = root / "CoreLayer" / "python"
    (site / "pydantic_core").mkdir(parents=True)
    (site / "pydantic_core" / "_pydantic_core.cpython-313-aarch64-linux-gnu.so").write_bytes(elf(machine))
    module(site / "pydantic_core" / "__init__.py", py_compile.PycInvalidationMode.UNCHECKED_HASH)
    if with_retune:
        module(site / "retune" / "__init__.py", py_compile.PycInvalidationMode.UNCHECKED_HASH)
    return root


def test_check_layer_passes_an_aarch64_layer_with_retune(tmp_path: Path) -> None:
    assert check_layer.main([str(make_layer(tmp_path, check_layer.EM_AARCH64))]) == 0


def test_check_layer_reads_the_machine_not_the_file_name(tmp_path: Path) -> None:
    # The file is named aarch64 but its header says x86_64.
    assert check_layer.main([str(make_layer(tmp_path, EM_X86_64))]) == 1


def test_check_layer_fails_without_retune(tmp_path: Path) -> None:
    assert check_layer.main([str(make_layer(tmp_path, check_layer.EM_AARCH64, with_retune=False))]) == 1


def test_check_layer_fails_without_pydantic_core(tmp_path: Path) -> None:
    site = tmp_path / "CoreLayer" / "python" / "retune"
    site.mkdir(parents=True)
    (site / "__init__.py").write_text("")
    assert check_layer.main([str(tmp_path)]) == 1


def test_check_layer_fails_on_another_pythons_extension(tmp_path: Path) -> None:
    make_layer(tmp_path, check_layer.EM_AARCH64)
    other = tmp_path / "CoreLayer" / "python" / "other.cpython-311-aarch64-linux-gnu.so"
    other.write_bytes(elf(check_layer.EM_AARCH64))
    assert check_layer.main([str(tmp_path)]) == 1


def test_check_layer_fails_when_nothing_was_built(tmp_path: Path) -> None:
    assert check_layer.main([str(tmp_path / "missing")]) == 1


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        (None, "retune/store.py has no cpython-313 bytecode"),
        (py_compile.PycInvalidationMode.TIMESTAMP, "store.cpython-313.pyc is not unchecked hash-based"),
        (py_compile.PycInvalidationMode.CHECKED_HASH, "store.cpython-313.pyc is not unchecked hash-based"),
    ],
)
def test_check_layer_fails_on_a_module_without_unchecked_bytecode(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mode: py_compile.PycInvalidationMode | None,
    message: str,
) -> None:
    # Lambda's /opt is read-only and SAM's zips date every file 1980-01-01: such a module compiles at every cold start.
    make_layer(tmp_path, check_layer.EM_AARCH64)
    module(tmp_path / "CoreLayer" / "python" / "retune" / "store.py", mode)
    assert check_layer.main([str(tmp_path)]) == 1
    assert message in capsys.readouterr().err
