"""Prompt templates are data files in prompts/, shipped as the package `convrec.prompts`."""

from __future__ import annotations

import string
from importlib import resources

from convrec.core.errors import ConvrecError
from convrec.lang import LANGUAGES


def load_prompt(name: str, **values: str) -> str:
    """Read prompts/<name>.txt and fill its {placeholders}; a missing value is an error naming it."""
    text = resources.files("convrec.prompts").joinpath(f"{name}.txt").read_text(encoding="utf-8")
    wanted = {field for _, field, _, _ in string.Formatter().parse(text) if field}
    missing = sorted(wanted - values.keys())
    if missing:
        raise ConvrecError(f"prompt {name!r} needs a value for {', '.join(missing)}")
    return text.format(**values).strip()


def prompts_by_language(name: str, **values: str) -> dict[str, str]:
    """prompts/<name>.txt for every registered language (`convrec.lang`), by language code: its
    {language} placeholder names the language the model is to write in."""
    return {code: load_prompt(name, language=lang.name, **values) for code, lang in LANGUAGES.items()}
