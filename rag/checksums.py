"""The size and a fast hash (xxh3-128) of every file of a build folder, and a seal over the manifest itself.

A build records :func:`record` of its folder in its manifest (``"checksums"``), sealed by :func:`seal`;
loading the index runs :func:`check` on every file, so one flipped byte anywhere is found. xxh3 hashes
12-15 GB/s from the page cache: checking the seed index takes ~10 ms, most of it the 90 MB query encoder.
It finds damage, not tampering (it is not a cryptographic hash, and the manifest sits beside the files).

Example:
    >>> sums = record(Path("index/build-…"))                         # doctest: +SKIP
    >>> check(Path("index/build-…"), sums)                           # doctest: +SKIP
    []
"""

from __future__ import annotations

import json
from pathlib import Path

import xxhash

ALGORITHM = "xxh3_128"
BLOCK = 1 << 20


def digest(path: Path) -> str:
    """The xxh3-128 of a file's bytes, as hex."""
    h = xxhash.xxh3_128()
    buf = bytearray(BLOCK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def record(folder: Path, skip: tuple[str, ...] = ("manifest.json",)) -> dict[str, dict]:
    """``{relative POSIX path: {"size", "xxh3_128"}}`` for every file under ``folder`` but ``skip``."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        if name not in skip:
            out[name] = {"size": path.stat().st_size, ALGORITHM: digest(path)}
    return out


def check(folder: Path, recorded: dict[str, dict]) -> list[tuple[str, str]]:
    """``(relative path, what is wrong)`` for each recorded file that is missing or differs (empty: all sound)."""
    problems = []
    for name, want in recorded.items():
        path = folder / name
        if not isinstance(want, dict):
            problems.append((name, "no size or hash recorded"))
            continue
        try:
            size = path.stat().st_size
            if size != want.get("size"):
                problems.append((name, f"{size} bytes, {want.get('size')} recorded"))
            elif digest(path) != want.get(ALGORITHM):
                problems.append((name, "its checksum differs from the manifest"))
        except FileNotFoundError:
            problems.append((name, "missing"))
        except OSError as exc:
            problems.append((name, f"unreadable: {exc.strerror or exc}"))
    return problems


def seal(manifest: dict) -> str:
    """The xxh3-128 of the manifest's content without its own seal (``checksums["manifest"]``)."""
    sums = {k: v for k, v in (manifest.get("checksums") or {}).items() if k != "manifest"}
    content = json.dumps({**manifest, "checksums": sums}, sort_keys=True, ensure_ascii=False)
    return xxhash.xxh3_128(content.encode("utf-8", "surrogatepass")).hexdigest()
