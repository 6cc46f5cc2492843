"""Skills: SKILL.md discovery, progressive disclosure, the Skill tool, substitutions and tool grants (§6)."""

from __future__ import annotations

from .grants import GrantPolicy, SkillGrants
from .loader import PluginRef, discover_skills, parse_skill
from .model import Skill
from .registry import SkillRegistry
from .substitute import RenderContext, render_body, substitute_arguments
from .tool import SkillTool, invoke_skill

__all__ = [
    "GrantPolicy",
    "PluginRef",
    "RenderContext",
    "Skill",
    "SkillGrants",
    "SkillRegistry",
    "SkillTool",
    "discover_skills",
    "invoke_skill",
    "parse_skill",
    "render_body",
    "substitute_arguments",
]
