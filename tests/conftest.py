"""Shared fixtures: the seed corpus indexed once per session with the real packaged model."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

if os.environ.get("PYTEST_XDIST_WORKER"):  # one core per test worker (and the servers and commands it starts)
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import pytest

import rag

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
GOLD = ROOT / "eval" / "gold.jsonl"


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory) -> Path:
    """An index of ``seeds/`` built with the default settings."""
    index_dir = tmp_path_factory.mktemp("index")
    rag.build_index(SEEDS, index_dir)
    return index_dir


@pytest.fixture(scope="session")
def retriever(seed_index) -> rag.Retriever:
    return rag.load_retriever(seed_index)


@pytest.fixture
def corpus_copy(tmp_path) -> Path:
    """A writable copy of the seed corpus."""
    dest = tmp_path / "corpus"
    shutil.copytree(SEEDS, dest)
    return dest
