"""qmr's command line. Each module registers its subcommands on the shared Typer app."""

from qmr_core.cli.common import app
from qmr_core.cli import data_cmds, demo_cmd, diagnose_cmds, eval_cmds, quant_cmds, recover_cmds, import_cmds, report_cmds, review_cmds, sensitivity_cmds, tui_cmds  # noqa: F401  (registration)


def main() -> None:
    app()


__all__ = ["app", "main"]
