"""``tfclf COMMAND [flags]`` and ``python -m tfclf COMMAND [flags]``: run ``python -m tfclf.COMMAND [flags]``.

Examples::

    tfclf fit --data tickets.csv --text-column body --label-column queue
    tfclf predict --model runs/demo --input test.csv --output preds.csv
    tfclf --help       # the commands, one line each
    tfclf fit --help   # fit's flags

Exit codes are the command's; with no command, or an unknown one, 2.
"""
from __future__ import annotations

import sys
from typing import Optional

import tfclf
from tfclf import cli, commands


def _help_text() -> str:
    width = max(map(len, commands.COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {command.summary}" for name, command in commands.COMMANDS.items())
    return (f"usage: tfclf COMMAND [flags]   (or: python -m tfclf COMMAND [flags])\n\n"
            f"{tfclf.__doc__.splitlines()[0]}\n\n"
            f"commands:\n{rows}\n\n"
            "options:\n  -h, --help  show this message and exit\n  --version   show tfclf's version and exit\n\n"
            "`tfclf COMMAND --help` lists a command's flags; `tfclf COMMAND` is `python -m tfclf.COMMAND`.\n")


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        sys.stderr.write(_help_text())
        return cli.EXIT_USAGE
    if argv[0] in ("-h", "--help"):
        sys.stdout.write(_help_text())
        return 0
    if argv[0] == "--version":
        sys.stdout.write(f"tfclf {tfclf.__version__}\n")
        return 0
    found: list[commands.Command] = []
    status = cli.run_main(lambda: found.append(commands.get_command(argv[0])))
    return status or found[0].main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
