"""The language-model protocol, its backends and prompt templates."""
