"""`retune drop PROFILE DIR`: upload a drop as StartRound expects it, the files its manifest lists first and the
manifest last (its arrival means the drop is complete), with progress for large files."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from retune.adapters.errors import translated
from retune.errors import InvalidInput, NotFound
from retune.events import split_manifest_key
from retune.manifest import parse_manifest

from retune_cli.context import Context
from retune_cli.errors import CliError
from retune_cli.output import emit_json

PROGRESS_MIN_BYTES = 8 * 1024 * 1024  # smaller files upload in a blink: one line each
MULTIPART_BYTES = 64 * 1024 * 1024


def size_text(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


class Progress:
    """boto3's transfer callback (called from its worker threads) → one status line on stderr: redrawn in place
    on a terminal, a line at each quarter elsewhere."""

    def __init__(self, name: str, total: int, stream: IO[str]) -> None:
        self.name, self.total, self.stream = name, total, stream
        self.done = 0
        self._lock = threading.Lock()
        self._tty = stream.isatty()
        self._drawn = 0.0
        self._quarter = 0
        self.large = total >= PROGRESS_MIN_BYTES

    def __call__(self, transferred: int) -> None:
        with self._lock:
            self.done += transferred
            if not self.large:
                return
            if self._tty:
                now = time.monotonic()
                if now - self._drawn >= 0.1 or self.done >= self.total:
                    self._drawn = now
                    self.stream.write(f"\r  {self.name}  {self._status()}")
                    self.stream.flush()
            elif self.total and self.done * 4 // self.total > self._quarter:
                self._quarter = int(self.done * 4 // self.total)
                self.stream.write(f"  {self.name}  {self._status()}\n")

    def _status(self) -> str:
        share = self.done / self.total if self.total else 1.0
        return f"{size_text(self.done)} / {size_text(self.total)}  {share:4.0%}"

    def finish(self) -> None:
        if self.large and self._tty:
            self.stream.write("\n")
        elif not self.large:
            self.stream.write(f"  {self.name}  {size_text(self.total)}\n")
        self.stream.flush()


def drop(ctx: Context) -> int:
    from boto3.exceptions import S3UploadFailedError  # noqa: PLC0415
    from boto3.s3.transfer import TransferConfig  # noqa: PLC0415
    from retune.profile import profile_key  # noqa: PLC0415

    profile = ctx.args.profile
    directory = Path(ctx.args.dir)
    drop_id = ctx.args.drop_id or directory.resolve().name
    prefix = f"datasets/{profile}/{drop_id}/"
    try:
        split_manifest_key(prefix + "manifest.json")
    except InvalidInput as exc:
        raise CliError(f"drop id: {'; '.join(exc.errors)}; pass another with --drop-id") from None
    manifest_path = directory / "manifest.json"
    if not directory.is_dir():
        raise CliError(f"{directory}: not a folder")
    if not manifest_path.is_file():
        raise CliError(
            f"{manifest_path}: missing; a drop needs its manifest (docs/profiles.md, 'Data layout')"
        )
    body = manifest_path.read_bytes()
    try:
        manifest = parse_manifest(body)
    except InvalidInput as exc:
        raise CliError(f"{manifest_path}: {'; '.join(exc.errors)}") from None
    files = manifest.files()
    missing = [f for f in files if not (directory / f).is_file()]
    if missing:
        raise CliError(f"{directory}: the manifest lists files that are not there: {', '.join(missing[:10])}")
    listed = set(files) | {"manifest.json"}
    skipped = sorted(
        p.relative_to(directory).as_posix()
        for p in directory.rglob("*")
        if p.is_file() and p.relative_to(directory).as_posix() not in listed
    )
    bucket = ctx.target.bucket
    s3 = ctx.client("s3")
    try:
        with translated("s3"):
            s3.head_object(Bucket=bucket, Key=profile_key(profile))
    except NotFound:
        print(
            f"retune: warning: {profile_key(profile)} is not in the bucket; StartRound fails the drop until "
            "it is (upload the profile, then `retune retry`)",
            file=sys.stderr,
        )
    config = TransferConfig(multipart_threshold=MULTIPART_BYTES, multipart_chunksize=MULTIPART_BYTES)
    uploaded: list[dict[str, Any]] = []
    for name in [*files, "manifest.json"]:
        path = directory / name
        progress = Progress(name, path.stat().st_size, sys.stderr)
        extra = {"ContentType": "application/json"} if name == "manifest.json" else {}
        try:
            s3.upload_file(
                str(path), bucket, prefix + name, Callback=progress, Config=config, ExtraArgs=extra
            )
        except S3UploadFailedError as exc:
            raise CliError(f"upload of {path} failed: {exc}") from None
        progress.finish()
        uploaded.append({"key": prefix + name, "bytes": progress.total})
    with translated("s3"):
        version = s3.head_object(Bucket=bucket, Key=prefix + "manifest.json").get("VersionId")
    total = sum(u["bytes"] for u in uploaded)
    if ctx.json:
        emit_json(
            {
                "profile": profile,
                "drop_id": drop_id,
                "bucket": bucket,
                "files": uploaded,
                "manifest_version": version,
                "skipped": skipped,
            }
        )
        return 0
    print(
        f"drop {drop_id} of {profile}: {len(files)} file(s) ({size_text(total)}) uploaded to "
        f"s3://{bucket}/{prefix}, the manifest last (version {version}); StartRound takes it from here: "
        f"`retune rounds {profile}`"
    )
    if skipped:
        print(f"not uploaded (not in the manifest): {', '.join(skipped)}")
    return 0
