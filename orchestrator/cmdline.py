"""A command as its user typed it, rebuilt from click's parsed parameters.

A sweep stopped by Ctrl-C ends with the command that resumes it: the same `zfsweep run GRID ...`
with the options given, so a person (or a script reading the last line) can run it as printed.
Only what came from the command line is repeated: defaults and MLFLOW_TRACKING_URI stay what
they are, as they would for the original command run again in the same shell.
"""

from __future__ import annotations

import shlex

import click
from click.core import ParameterSource


def command_line(ctx: click.Context, program: str = "zfsweep") -> str:
    """`program`, the command's name and each argument and option the command line set, quoted for a shell."""
    words = [program, ctx.info_name or ""]
    for param in ctx.command.params:
        if param.name is None or ctx.get_parameter_source(param.name) != ParameterSource.COMMANDLINE:
            continue
        value = ctx.params[param.name]
        if isinstance(param, click.Argument):
            words.append(str(value))
        elif isinstance(param, click.Option) and param.is_flag:
            words.append(param.opts[0] if value else param.secondary_opts[0])
        else:
            flag = param.opts[0]
            values = value if isinstance(param, click.Option) and param.multiple else (value,)
            words += [word for item in values for word in (flag, str(item))]
    return shlex.join(words)
