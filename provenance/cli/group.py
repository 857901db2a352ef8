"""The `prov` command group: commands built when first asked for, plain strings uncoerced."""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, ClassVar

import typer
from typer.core import TyperGroup

# Adds one command (or sub-app) to the Typer app it is given, importing its module then.
AddCommand = Callable[[typer.Typer], None]


class RootGroup(TyperGroup):
    """The `prov` command group: Typer as usual, but each command is built from its function
    only when it runs (or help lists it), and plain strings reach commands uncoerced.

    Built up front, as Typer builds a group, every one of the forty-odd commands had its
    signature read and its options made, and its module imported, on every invocation:
    ~50-70 ms of CPU of each `prov match` and `prov --version`, for one command used.
    `lazy` names each command, in help order, with how to add it to a Typer app; a command
    is built the first time it is looked up, through Typer's own code, on an app with the
    root app's settings (`settings`), so it is the command Typer would have built.

    Typer (0.2x) coerces every parameter value, even a plain string or an option left
    unset, through a pydantic TypeAdapter: importing pydantic and building the adapters
    cost `prov match` about 0.1 s of its 0.5 s budget. A string given for a `str`
    parameter, and an unset single value, come out of that coercion unchanged, so they skip
    it, as does a `list[str]` argument given only strings (`prov add FILE...`: pydantic's
    import was 0.3-0.6 s of a loaded machine's `prov add`); anything else (numbers, paths,
    choices, other lists) still goes through Typer's own.
    """

    lazy: ClassVar[dict[str, AddCommand]] = {}
    settings: ClassVar[dict[str, Any]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _plain_strings(self)
        self.commands = _LazyCommands(self.commands, self.lazy, self.settings)


class _LazyCommands(MutableMapping[str, Any]):
    """A group's commands by name: those given built already, the `lazy` ones on first
    lookup (iterating the names builds nothing; `items()` and `values()` build them all)."""

    def __init__(self, built: MutableMapping[str, Any], lazy: dict[str, AddCommand],
                 settings: dict[str, Any]) -> None:
        self._built = dict(built)
        self._lazy = {name: add for name, add in lazy.items() if name not in self._built}
        self._order = [*self._built, *self._lazy]
        self._settings = settings

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            add = self._lazy[name]  # KeyError for a name prov does not have
            one = typer.Typer(**self._settings)
            add(one)
            command = typer.main.get_group(one).commands[name]
            _plain_strings(command)
            self._built[name] = command
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        if name not in self._built and name not in self._lazy:
            self._order.append(name)
        self._lazy.pop(name, None)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self._built and name not in self._lazy:
            raise KeyError(name)
        self._built.pop(name, None)
        self._lazy.pop(name, None)
        self._order.remove(name)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, name: object) -> bool:
        return name in self._built or name in self._lazy


class _PlainStrings:
    """Stands in for one parameter's Typer coercion until a value needs more than `str`."""

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        single = not (param.multiple or param.nargs == -1)
        if single and (value is None or (isinstance(value, str)
                                         and param.type_descriptor.annotation is str)):
            return value
        if (single and type(value) in (int, float, bool) and value == param.default
                and param.type_descriptor.annotation is type(value)):
            return value  # an option left at its own default (`--ocr-timeout 60.0`)
        if (not single and param.type_descriptor.annotation == list[str]
                and isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)):
            return list(value)  # what Typer's list[str] adapter returns for strings
        param._runtime_param = None  # Typer's own coercion from here on
        return param.get_runtime_param().coerce(value, param=param, ctx=ctx)


def _plain_strings(command: Any) -> None:
    """Install _PlainStrings on every parameter of command and its subcommands, where this
    Typer has the lazily built per-parameter coercion it replaces (others are left alone).
    Commands not built yet are left for _LazyCommands, which installs it as it builds them."""
    for param in command.params:
        _install(param)
    get_help_option = getattr(command, "get_help_option", None)
    if get_help_option is not None:
        # --help is made per command when first parsed, then processed at once: unset, its
        # value is None, which Typer would coerce too.
        def help_option(ctx: Any) -> Any:
            option = get_help_option(ctx)
            if option is not None:
                _install(option)
            return option

        setattr(command, "get_help_option", help_option)  # noqa: B010 - an instance method
    subcommands = getattr(command, "commands", {})
    built = subcommands._built if isinstance(subcommands, _LazyCommands) else subcommands
    for sub in built.values():
        _plain_strings(sub)


def _install(param: Any) -> None:
    if (getattr(param, "_runtime_param", False) is None
            and hasattr(param, "get_runtime_param") and hasattr(param, "type_descriptor")):
        param._runtime_param = _PlainStrings()
