"""The fields of a call that most calls never set, kept aside until one is set: every field a
call holds itself costs 8 bytes, a million calls at a campaign's busiest instant."""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar, cast, overload

if TYPE_CHECKING:
    from emulator.domain.models import Bridge, CallLeg
    from emulator.sim.clock import Timer

__all__ = ["LegRare", "Rare"]

T = TypeVar("T")


class LegRare:
    """The fields of a call that most calls never set (menus, bridges, a hang-up deadline)."""

    __slots__ = ("bridge", "bridges", "deadline", "menu_ms", "menus")

    def __init__(self) -> None:
        self.menus = 0
        self.bridges = 0
        self.bridge: Bridge | None = None
        self.deadline: Timer | None = None
        self.menu_ms: int | None = None


class Rare(Generic[T]):
    """A `CallLeg` field kept in its `LegRare`, made when the field is first set to anything
    but its default: every field a leg holds itself costs 8 bytes a call, a million calls
    at a campaign's busiest instant."""

    def __init__(self, default: T) -> None:
        self.default = default
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, leg: None, owner: type) -> Rare[T]: ...
    @overload
    def __get__(self, leg: CallLeg, owner: type) -> T: ...
    def __get__(self, leg: CallLeg | None, owner: type) -> T | Rare[T]:
        if leg is None:
            return self
        rare = leg._rare
        return self.default if rare is None else cast(T, getattr(rare, self.name))

    def __set__(self, leg: CallLeg, value: T) -> None:
        rare = leg._rare
        if rare is None:
            if value == self.default:
                return
            rare = leg._rare = LegRare()
        setattr(rare, self.name, value)
