"""The ``rad3d-hf`` command line.

Each module in this package that defines ``add_parser(subparsers)`` contributes one subcommand; the parser it adds
sets ``func`` to a callable taking the parsed namespace and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    from rad3d_hf import __version__
    from rad3d_hf.cli.usage import OneLineArgumentParser

    parser = OneLineArgumentParser(prog="rad3d-hf", description="3D-RAD benchmark tools")
    parser.add_argument("--version", action="version", version=f"rad3d-hf {__version__}")
    # Subcommand parsers inherit OneLineArgumentParser: a usage mistake is one line and exit status 2.
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):  # __main__ runs the CLI when imported
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        add_parser = getattr(module, "add_parser", None)
        if add_parser is not None:
            add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rad3d-hf`` console script: 0 done, 1 a finding (e.g. a failed check), 2 a user mistake."""
    from rad3d_hf.cli.usage import report

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"rad3d-hf {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        code = report(f"rad3d-hf {args.command}", error)
        if code is None:
            raise
        return code


if __name__ == "__main__":
    sys.exit(main())
