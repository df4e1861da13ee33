"""Feature services as the parser reads them: `logging: {sample_rate}`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fsql.project.load import load_project
from tests.support.project_files import make, one_error, view


def _service(logging: Any) -> dict[str, str]:
    doc: dict[str, Any] = {"name": "s", "features": ["v:f"]}
    if logging is not None:
        doc["logging"] = logging
    return {"models/services.yml": yaml.safe_dump({"feature_services": [doc]})}


@pytest.mark.parametrize(
    ("logging", "rate"),
    [(None, None), ({"sample_rate": 0.1}, 0.1), ({"sample_rate": 1}, 1.0), ({}, 1.0)],
)
def test_sample_rate(tmp_path: Path, logging: Any, rate: float | None) -> None:
    project = load_project(make(tmp_path, view("v"), _service(logging)))
    assert project.services["s"].log_sample_rate == rate


@pytest.mark.parametrize(
    ("logging", "text"),
    [
        ({"sample_rate": 0}, "sample_rate must be a number in (0, 1], not 0"),
        ({"sample_rate": 1.5}, "not 1.5"),
        ({"sample_rate": "half"}, "not 'half'"),
        ({"sample_rate": True}, "not True"),
        (0.1, "logging must be a mapping"),
        ({"sample": 0.1}, "unknown key 'sample'"),
    ],
)
def test_bad_logging_is_one_line(tmp_path: Path, logging: Any, text: str) -> None:
    err = one_error(make(tmp_path, view("v"), _service(logging)), text, "models/services.yml")
    assert "feature service 's': logging" in err.message
