"""The skills and commands one session can invoke, resolved by name with Claude Code's clash rules."""

from __future__ import annotations

from collections.abc import Iterable

from .model import Skill


class SkillRegistry:
    """First registration of a name wins; callers add in precedence order (skills before commands)."""

    def __init__(self, skills: Iterable[Skill] = ()) -> None:
        self._by_name: dict[str, Skill] = {}
        self._aliases: dict[str, str] = {}
        for skill in skills:
            self.add(skill)

    def add(self, skill: Skill) -> bool:
        if skill.name in self._by_name:
            return False
        self._by_name[skill.name] = skill
        for alias in skill.aliases:
            # An alias (a nested command's bare stem) only resolves while it is unambiguous.
            if alias in self._by_name:
                continue
            self._aliases[alias] = "" if alias in self._aliases else skill.name
        return True

    def get(self, name: str) -> Skill | None:
        key = name.strip().removeprefix("/")
        hit = self._by_name.get(key)
        if hit is not None:
            return hit
        target = self._aliases.get(key)
        return self._by_name.get(target) if target else None

    def all(self) -> list[Skill]:
        return list(self._by_name.values())

    def model_invocable(self) -> list[Skill]:
        return [s for s in self._by_name.values() if s.model_invocable]

    def user_invocable(self) -> list[Skill]:
        return [s for s in self._by_name.values() if s.user_invocable]

    def names(self) -> list[str]:
        return list(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None
