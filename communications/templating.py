"""Safe template rendering: `{{ name }}` placeholders from an allow-list, substituted once.

No expressions, attribute or item access, filters, tags or code: anything between `{{` and
`}}` other than an allow-listed name is an error when the template is saved, and a name without
a value is an error when it is rendered. Values are inserted as plain text in a single pass, so a
value that itself looks like `{{ name }}` is never expanded (no second-order injection).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from crisis_api.api.errors import DomainError

VARIABLES: dict[str, str] = {
    "complainant_name": "The complainant's display name (from the case).",
    "complainant_handle": "The complainant's handle on the platform, e.g. @ana@example.social.",
    "case_reference": "The complaint case's reference.",
    "incident_title": "The incident's public title.",
    "incident_reference": "The incident's reference, e.g. INC-12.",
    "organisation_name": "The organisation's name.",
    "status_page_url": "Where the public status timeline is.",
    "next_update_at": "When the next public update is due (text).",
}
MAX_VALUE_CHARS = 500

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
# Outside placeholders no brace at all: `{{ a }}}` or `{% … %}` are mistakes or probes.
_FORBIDDEN = ("{", "}")


class TemplateSyntaxError(DomainError):
    """The template uses something other than allow-listed `{{ name }}` placeholders."""

    code = "template_invalid"


class TemplateRenderError(DomainError):
    """A variable the template needs has no value, or a value is unusable."""

    code = "template_variables_missing"


def template_variables(text: str) -> list[str]:
    """The variable names `text` uses, in order of first use; raises on anything else."""
    names: list[str] = []
    problems: list[str] = []
    for match in _PLACEHOLDER.finditer(text):
        inner = match.group(1).strip()
        if not _NAME.fullmatch(inner):
            problems.append(f"{match.group(0)!r} is not a plain variable name")
        elif inner not in VARIABLES:
            problems.append(f"unknown variable {inner!r}")
        elif inner not in names:
            names.append(inner)
    rest = _PLACEHOLDER.sub("", text)
    for token in _FORBIDDEN:
        if token in rest:
            problems.append(f"stray {token!r}")
    if problems:
        raise TemplateSyntaxError(
            "Templates may only use {{ name }} with a known variable: " + "; ".join(problems) + ".",
            allowed=sorted(VARIABLES),
        )
    return names


def _clean(value: str) -> str:
    """Plain text: no control characters (new lines allowed), bounded length."""
    cleaned = "".join(
        ch for ch in value if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf")
    )
    return cleaned.strip()[:MAX_VALUE_CHARS]


def render(text: str, values: Mapping[str, object]) -> str:
    """Substitute every placeholder of `text`; a missing or empty value is an error."""
    names = template_variables(text)
    missing = [name for name in names if not str(values.get(name) or "").strip()]
    if missing:
        raise TemplateRenderError(
            f"No value for: {', '.join(missing)}.", missing=missing, allowed=sorted(VARIABLES)
        )
    unknown = sorted(set(values) - set(VARIABLES))
    if unknown:
        raise TemplateRenderError(f"Unknown variables: {', '.join(unknown)}.", unknown=unknown)
    return _PLACEHOLDER.sub(lambda m: _clean(str(values[m.group(1).strip()])), text)
