"""scripts/check_layer.py reads ELF headers: an aarch64 layer holding retune passes, else it fails."""

from __future__ import annotations

import struct
from pathlib import Path

from scripts import check_layer

EM_X86_64 = 62


def elf(machine: int) -> bytes:
    """The first bytes of a little-endian 64-bit ELF shared object for `machine`."""
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    return ident + struct.pack("<HH", 3, machine) + bytes(44)


def make_layer(root: Path, machine: int, with_retune: bool = True) -> Path:
    site = root / "CoreLayer" / "python"
    (site / "pydantic_core").mkdir(parents=True)
    (site / "pydantic_core" / "_pydantic_core.cpython-313-aarch64-linux-gnu.so").write_bytes(elf(machine))
    if with_retune:
        (site / "retune").mkdir()
        (site / "retune" / "__init__.py").write_text("")
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
