"""A command: its name, help line, options and handler in one class (as west's WestCommand), and
the properties main() needs, declared on the command instead of tested by name in main()."""

from __future__ import annotations

import argparse
from typing import Any

Result = tuple[dict[str, Any], str]  # the --json record, and the human summary


class Command:
    name: str = ""
    help: str = ""
    # runs torch in this process: main() limits its intra-op threads first
    runs_torch: bool = True
    # a command made of steps (`robust gan`): the steps, and their metavar in the usage line
    steps: tuple[Command, ...] = ()
    steps_metavar: str = "STEP"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        """Declare the command's options on its parser (shared ones from cli.options)."""

    def run(self, args: argparse.Namespace) -> Result:
        raise NotImplementedError(f"{self.name}: a command with steps runs one of them")

    def add_to(self, sub: argparse._SubParsersAction) -> None:
        """This command's parser under `sub`, and its steps' parsers under it."""
        p = sub.add_parser(self.name, help=self.help)
        if self.steps:
            steps = p.add_subparsers(
                dest=f"{self.name}_command", required=True, metavar=self.steps_metavar
            )
            for step in self.steps:
                step.add_to(steps)
            return
        self.add_arguments(p)
        p.set_defaults(cmd=self)
