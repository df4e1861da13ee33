"""Pure compilation: definitions in, sqlglot trees and manifest out; no connections."""
