"""What one parse of a project carries from step to step, passed explicitly.

`load_project` makes one `ParseContext` and hands it to the plain functions of
`metadata`, `views`, `services` and `refs`: the configuration and files, the one
error collector every problem is added to (so all of them are reported together),
the Jinja renderer, and what the metadata files have declared so far.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from fsql.config.project_file import ProjectConfig
from fsql.config.yaml_lines import LineDict
from fsql.definitions.models import Entity, Source
from fsql.errors import ProjectError
from fsql.project.files import ProjectFiles
from fsql.project.jinja import ModelRenderer
from fsql.project.names import hint_names


class ErrorCollector:
    """Every problem found in one parse, in the order found."""

    def __init__(self) -> None:
        self.errors: list[ProjectError] = []

    def add(
        self,
        message: str,
        file: str | None = None,
        line: int | None = None,
        hint: str | None = None,
        column: int | None = None,
    ) -> None:
        self.errors.append(ProjectError(message, file=file, line=line, hint=hint, column=column))

    def unknown_keys(
        self,
        mapping: Mapping[Any, Any],
        allowed: Collection[str],
        label: str,
        file: str,
        line: int | None,
    ) -> None:
        """One error per key of `mapping` not in `allowed`, with the closest known names."""
        for key in mapping:
            if key not in allowed:
                self.add(
                    f"{label}: unknown key '{key}'",
                    file,
                    line,
                    hint=hint_names(str(key), sorted(allowed)),
                )


@dataclass
class Declarations:
    """What the metadata files declare: entities and sources, parsed; the entries of
    views, services and on-demand features, kept with their file to be parsed once
    every file is read."""

    entities: dict[str, Entity] = field(default_factory=dict)
    sources: dict[tuple[str, str], Source] = field(default_factory=dict)
    # Source tables declared with an error already reported: a source() of one is not
    # reported again as unknown.
    bad_sources: set[tuple[str, str]] = field(default_factory=set)
    view_docs: dict[str, tuple[LineDict, str]] = field(default_factory=dict)
    view_names: dict[str, str] = field(default_factory=dict)  # casefolded -> as declared
    # View names declared twice or reserved: reported once, never parsed.
    duplicates: set[str] = field(default_factory=set)
    service_docs: list[tuple[LineDict, str]] = field(default_factory=list)
    odf_docs: list[tuple[LineDict, str]] = field(default_factory=list)


@dataclass
class ParseContext:
    """One parse of one project: made by `load_project`, passed to every step."""

    config: ProjectConfig
    files: ProjectFiles
    errs: ErrorCollector = field(default_factory=ErrorCollector)
    declared: Declarations = field(default_factory=Declarations)
    # Made once the metadata is read (macro errors are reported after the YAML's);
    # None when the macros could not be read.
    renderer: ModelRenderer | None = None
    # Rendered SQL -> its tokens, kept from parsing for the content hash.
    tokens: dict[str, list] = field(default_factory=dict)
    # Per view, the vars and environment variables its rendering read (parse_cache).
    reads: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    # Metadata files parsed by an earlier compile (file -> [sha256, document as JSON],
    # fsql.project.parse_cache), and those of this parse, for the next.
    yaml_cache: dict[str, list[Any]] | None = None
    yaml_seen: dict[str, list[Any]] = field(default_factory=dict)
