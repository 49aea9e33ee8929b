"""The `cipherpost` command.

Each subcommand lives in its own module of this package and exposes `add_parser(subparsers)`,
which registers the subcommand and sets `func` on its parser to a callable taking the parsed
arguments and returning an exit code. Errors from `cipherpost.exceptions` print one line with a
hint; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import sys

from cipherpost.exceptions import CipherpostError

# Subcommand modules, in the order `cipherpost --help` lists them. A module that is missing
# from the installation is left out of the command without a message. Any other import error
# propagates.
SUBCOMMAND_MODULES = (
    "cipherpost.cli.gateway",
    "cipherpost.cli.messaging",
    "cipherpost.cli.demo",
    "cipherpost.cli.media",
    "cipherpost.cli.fingerprint",
)

# Exit codes by error family, so scripts can tell a usage mistake from a failed check.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def build_parser(debug: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cipherpost", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # --debug is accepted before or after the subcommand: it is taken out here, because only
    # the top-level parser defines it.
    debug = "--debug" in argv
    argv = [argument for argument in argv if argument != "--debug"]
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    parser = build_parser(debug)
    args = parser.parse_args(argv)
    args.debug = debug
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE

    try:
        return int(args.func(args) or EXIT_OK)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except CipherpostError as error:
        if debug:
            raise
        print(f"cipherpost {args.command}: {error}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as error:
        # A failed system call, such as binding a port or creating the data directory. The
        # message names the address or path.
        if debug:
            raise
        print(f"cipherpost {args.command}: {error}{_os_error_hint(error)}", file=sys.stderr)
        return EXIT_ERROR


def _os_error_hint(error: OSError) -> str:
    """Return what to do about a common OSError, as a clause to append to its message."""
    if error.errno == errno.EADDRINUSE:
        return "; another process uses this port: stop it or pick another port"
    if error.errno == errno.EADDRNOTAVAIL:
        return "; this machine has no such address: pick another --host"
    if error.errno in (errno.ENOENT, errno.ENOTDIR, errno.EACCES, errno.EPERM, errno.EROFS):
        return "; check the path and its permissions, or pick another directory"
    return ""
