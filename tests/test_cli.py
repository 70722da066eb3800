"""The command line: every benchmark and evaluation registers its own subcommand, one way."""

from __future__ import annotations

import argparse
import sys

from convrec.cli import build_parser


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_each_eval_and_bench_command_is_registered_by_the_module_that_runs_it():
    top = _commands(build_parser())
    evals, benches = _commands(top["eval"]), _commands(top["bench"])
    assert list(evals) == [
        "constraints", "negations", "cf", "hybrid", "longtail", "redial", "dialogs", "simulate", "report",
        "content", "explanations", "replies",
    ]  # fmt: skip
    assert list(benches) == ["chat", "index", "images", "embed", "build", "scale"]
    for group, commands in (("eval", evals), ("bench", benches)):
        for name, parser in commands.items():
            run = parser.get_default("func")
            module = sys.modules[run.__module__]
            assert module.__name__.startswith("convrec.eval."), (group, name, module.__name__)
            assert hasattr(module, f"add_{group}_cli"), (group, name, module.__name__)
            assert getattr(module, run.__name__) is run, (group, name)  # a module-level command, not a nested one
