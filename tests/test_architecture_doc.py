"""ARCHITECTURE.md names only modules and attributes that exist (``migctl.io/...`` is the annotation domain)."""

from __future__ import annotations

import importlib
import re

import pytest

from conftest import REPO

NAMES = sorted({m.rstrip(".") for m in re.findall(r"\bmigctl(?:\.[A-Za-z_][A-Za-z0-9_]*)+\.?(?![/A-Za-z0-9_])",
                                                  (REPO / "ARCHITECTURE.md").read_text())})


def _resolve(name: str) -> object:
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(name)


def test_the_document_names_modules():
    assert len(NAMES) > 20


@pytest.mark.parametrize("name", NAMES)
def test_every_named_path_exists(name):
    _resolve(name)
