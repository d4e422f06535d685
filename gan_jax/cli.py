"""Command-line flags generated from a model's ``Config`` dataclass, with the checks that turn bad values into
one-line errors instead of tracebacks from inside XLA."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing

# Fields that must be > 0 / in [0, 1) wherever a Config has them.
POSITIVE = ("n_epochs", "batch_size", "lr", "latent_dim", "img_size", "channels", "n_critic", "sample_interval",
            "clip_value", "n_classes", "code_dim", "lambda_gp")
UNIT_INTERVAL = ("b1", "b2")


def quiet_logs() -> None:
    """Silence absl's INFO/WARNING chatter (orbax's read-only notices) in command-line tools."""
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)


# What a user's input can make a tool raise (a bad value, a missing or unreadable file, a diverged run): one line.
USER_ERRORS = (ValueError, OSError, RuntimeError, FloatingPointError)
# ...and for tools that open a run directory: a config.json without a key, or naming a model this version lacks.
RUN_ERRORS = USER_ERRORS + (KeyError,)


def run_main(fn: typing.Callable[[], typing.Any], errors: tuple = USER_ERRORS) -> int:
    """A command-line tool's exit status from ``fn()``: an int it returns is the status, anything else 0.

    ``errors`` become ``error: <message>`` on stderr and status 1 instead of a traceback, Ctrl-C becomes ``aborted``
    and 130 (what a shell reports for SIGINT). Anything else is a bug and keeps its traceback.
    """
    try:
        result = fn()
    except KeyboardInterrupt:
        print("aborted", file=sys.stderr)
        return 130
    except errors as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return result if isinstance(result, int) else 0


def _parse_bool(text: str) -> bool:
    low = text.lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def parse_value(hint):
    """The function turning a flag's text into a value of a Config field typed ``hint`` (bool: true/false and the
    like; tuple[T, ...]: comma-separated). Raises ValueError (argparse.ArgumentTypeError for bool) on bad text."""
    if hint is bool:
        return _parse_bool
    if typing.get_origin(hint) is tuple:
        elem = typing.get_args(hint)[0]
        return lambda s: tuple(elem(v) for v in s.split(","))
    return hint


def add_config_flags(parser: argparse.ArgumentParser, config_cls) -> None:
    """One ``--field`` per Config field (PyTorch-GAN's flag names), defaulting to None = "the Config default"."""
    hints = typing.get_type_hints(config_cls)
    group = parser.add_argument_group(f"model options ({config_cls.__module__}.Config; defaults = PyTorch-GAN's)")
    for field in dataclasses.fields(config_cls):
        hint = hints[field.name]
        default = field.default
        if hint is bool:
            group.add_argument(f"--{field.name}", type=parse_value(hint), nargs="?", const=True, default=None,
                               help=f"(default {default})")
        elif typing.get_origin(hint) is tuple:
            group.add_argument(f"--{field.name}", type=parse_value(hint), default=None,
                               help=f"comma-separated (default {','.join(map(str, default))})")
        else:
            group.add_argument(f"--{field.name}", type=parse_value(hint), default=None, help=f"(default {default})")


def config_from_args(config_cls, args: argparse.Namespace):
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(config_cls)
                 if getattr(args, f.name, None) is not None}
    config = config_cls(**overrides)
    validate(config)
    return config


def validate(config) -> None:
    """Raise ValueError naming the flag for values no model can train with."""
    for name in POSITIVE:
        value = getattr(config, name, None)
        if value is not None and not value > 0:
            raise ValueError(f"--{name} must be > 0, got {value}")
    for name in UNIT_INTERVAL:
        value = getattr(config, name, None)
        if value is not None and not 0 <= value < 1:
            raise ValueError(f"--{name} must be in [0, 1), got {value}")
    check = getattr(config, "validate", None)
    if check is not None:
        check()
