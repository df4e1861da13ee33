"""Parsing a project from disk: files, YAML with lines, Jinja rendering, validation."""
