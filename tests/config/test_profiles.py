"""Tests for `fsql.config.profiles`: lookup order, targets and env_var() rendering."""

from __future__ import annotations

from pathlib import Path

import pytest

from fsql.config import secrets
from fsql.config.profiles import PROFILES_FILE, find_profiles, load_target
from fsql.errors import ProjectError

PROFILE = """\
shop:
  target: dev
  outputs:
    dev:
      offline: {type: duckdb, path: target/dev.duckdb}
      online: {type: sqlite, path: target/dev.db}
    prod:
      offline: {type: duckdb, path: target/prod.duckdb}
      online: {type: sqlite, path: target/prod.db}
"""


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real profiles, env vars or secrets leak into (or out of) a test."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("FSQL_PROFILES_DIR", raising=False)
    monkeypatch.setattr(secrets, "_secrets", set())


def write_profiles(folder: Path, text: str = PROFILE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PROFILES_FILE
    path.write_text(text, encoding="utf-8")
    return path


def project(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir(exist_ok=True)
    return path


class TestLookupOrder:
    def setup_all(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
        proj = project(tmp_path)
        paths = {
            "cli": write_profiles(tmp_path / "cli"),
            "env": write_profiles(tmp_path / "env"),
            "project": write_profiles(proj),
            "home": write_profiles(tmp_path / "home" / ".fsql"),
        }
        monkeypatch.setenv("FSQL_PROFILES_DIR", str(tmp_path / "env"))
        return paths

    def test_profiles_dir_beats_everything(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        paths = self.setup_all(tmp_path, monkeypatch)
        assert find_profiles(project(tmp_path), tmp_path / "cli") == paths["cli"]

    def test_env_beats_project_dir(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        paths = self.setup_all(tmp_path, monkeypatch)
        assert find_profiles(project(tmp_path), None) == paths["env"]

    def test_project_dir_beats_home(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        paths = self.setup_all(tmp_path, monkeypatch)
        monkeypatch.delenv("FSQL_PROFILES_DIR")
        assert find_profiles(project(tmp_path), None) == paths["project"]

    def test_home_is_the_last_resort(self, tmp_path: Path) -> None:
        home = write_profiles(tmp_path / "home" / ".fsql")
        assert find_profiles(project(tmp_path), None) == home

    def test_profiles_dir_expands_user(self, tmp_path: Path) -> None:
        path = write_profiles(tmp_path / "home" / "conf")
        assert find_profiles(project(tmp_path), "~/conf") == path

    def test_nothing_found(self, tmp_path: Path) -> None:
        with pytest.raises(ProjectError, match=r"no profiles\.yml found") as info:
            find_profiles(project(tmp_path), None)
        assert "--profiles-dir" in info.value.render()

    def test_explicit_dir_without_file_does_not_fall_back(self, tmp_path: Path) -> None:
        write_profiles(project(tmp_path))
        (tmp_path / "empty").mkdir()
        with pytest.raises(ProjectError, match=r"no profiles\.yml found"):
            find_profiles(project(tmp_path), tmp_path / "empty")


class TestTargets:
    def test_default_target(self, tmp_path: Path) -> None:
        path = write_profiles(project(tmp_path))
        target = load_target(project(tmp_path), "shop", None)
        assert (target.profile, target.name) == ("shop", "dev")
        assert target.offline == {"type": "duckdb", "path": "target/dev.duckdb"}
        assert target.online == {"type": "sqlite", "path": "target/dev.db"}
        assert target.offline_type == "duckdb"
        assert target.online_type == "sqlite"
        assert target.file == str(path)

    def test_explicit_target(self, tmp_path: Path) -> None:
        write_profiles(project(tmp_path))
        target = load_target(project(tmp_path), "shop", "prod")
        assert target.name == "prod"
        assert target.offline["path"] == "target/prod.duckdb"

    def test_first_output_when_no_default(self, tmp_path: Path) -> None:
        write_profiles(project(tmp_path), PROFILE.replace("  target: dev\n", ""))
        assert load_target(project(tmp_path), "shop", None).name == "dev"

    def test_missing_stores_get_embedded_defaults(self, tmp_path: Path) -> None:
        write_profiles(project(tmp_path), "shop:\n  outputs:\n    dev: {}\n")
        target = load_target(project(tmp_path), "shop", None)
        assert target.offline_type == "duckdb"
        assert target.online == {"type": "sqlite", "path": "target/online.db"}

    def test_unknown_profile(self, tmp_path: Path) -> None:
        path = write_profiles(project(tmp_path))
        with pytest.raises(ProjectError, match="profile 'nope' not found") as info:
            load_target(project(tmp_path), "nope", None)
        assert info.value.location.file == str(path)
        assert str(path) in info.value.render()
        assert "shop" in info.value.render()  # lists the profiles that exist

    def test_unknown_target(self, tmp_path: Path) -> None:
        path = write_profiles(project(tmp_path))
        with pytest.raises(ProjectError, match="target 'staging' not found") as info:
            load_target(project(tmp_path), "shop", "staging")
        assert info.value.location.file == str(path)
        assert "dev, prod" in info.value.render()

    def test_profile_without_outputs(self, tmp_path: Path) -> None:
        path = write_profiles(project(tmp_path), "shop:\n  target: dev\n")
        with pytest.raises(ProjectError, match="has no outputs") as info:
            load_target(project(tmp_path), "shop", None)
        assert info.value.location.file == str(path)

    @pytest.mark.parametrize("kind", ["oracle", "[duckdb]", "{a: 1}", "7"])
    def test_bad_store_type(self, tmp_path: Path, kind: str) -> None:
        text = f"shop:\n  outputs:\n    dev:\n      offline: {{type: {kind}}}\n"
        path = write_profiles(project(tmp_path), text)
        with pytest.raises(ProjectError, match="offline type must be one of") as info:
            load_target(project(tmp_path), "shop", None)
        assert info.value.location.file == str(path)


def env_profile(expr: str) -> str:
    return f'shop:\n  outputs:\n    dev:\n      offline: {{type: duckdb, path: "{expr}"}}\n'


class TestEnvVar:
    def test_set_value_is_used(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("FSQL_TEST_DB", "/data/shop.duckdb")
        write_profiles(project(tmp_path), env_profile("{{ env_var('FSQL_TEST_DB') }}"))
        target = load_target(project(tmp_path), "shop", None)
        assert target.offline["path"] == "/data/shop.duckdb"

    def test_set_value_beats_default(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("FSQL_TEST_DB", "/data/shop.duckdb")
        write_profiles(project(tmp_path), env_profile("{{ env_var('FSQL_TEST_DB', 'x.db') }}"))
        assert load_target(project(tmp_path), "shop", None).offline["path"] == "/data/shop.duckdb"

    def test_default(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("FSQL_TEST_DB", raising=False)
        write_profiles(project(tmp_path), env_profile("{{ env_var('FSQL_TEST_DB', 'x.db') }}"))
        assert load_target(project(tmp_path), "shop", None).offline["path"] == "x.db"

    def test_missing_without_default(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("FSQL_TEST_DB", raising=False)
        path = write_profiles(project(tmp_path), env_profile("{{ env_var('FSQL_TEST_DB') }}"))
        with pytest.raises(ProjectError, match=r"env_var\('FSQL_TEST_DB'\) is not set") as info:
            load_target(project(tmp_path), "shop", None)
        assert info.value.location.file == str(path)
        assert "export FSQL_TEST_DB" in info.value.render()

    def test_values_are_registered_as_secrets(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("FSQL_TEST_PASSWORD", "s3cr3t-pa55")
        text = (
            "shop:\n  outputs:\n    dev:\n"
            "      offline: {type: duckdb}\n"
            "      online: {type: redis, url: \"redis://:{{ env_var('FSQL_TEST_PASSWORD') }}@h\"}\n"
        )
        write_profiles(project(tmp_path), text)
        target = load_target(project(tmp_path), "shop", None)
        assert target.online["url"] == "redis://:s3cr3t-pa55@h"
        assert secrets.is_secret("s3cr3t-pa55")
        assert secrets.scrub(f"connect {target.online['url']} failed") == (
            "connect redis://:****@h failed"
        )

    def test_bad_template(self, tmp_path: Path) -> None:
        path = write_profiles(project(tmp_path), env_profile("{{ nope( }}"))
        with pytest.raises(ProjectError, match="bad template") as info:
            load_target(project(tmp_path), "shop", None)
        assert info.value.location.file == str(path)
