"""The MIG profile name grammar: ``[Cc.]Gg.NNgb[+attr,...|-attr,...]``.

The grammar and formatting rules are go-nvlib's (NVIDIA/go-nvlib ``pkg/nvlib/device/mig_profile.go``)::

    profile  := [ C "c." ] G "g." GB "gb" [ ("+" | "-") attrs ]
    attrs    := attr { "," attr }
    attr     := [A-Za-z] [A-Za-z0-9.]*      ; must not end with "."; unique in the list

- ``+`` and ``-`` never both appear; whitespace anywhere is an error.
- Formatting drops ``Cc.`` when C equals G, so ``1c.1g.5gb`` canonicalises to ``1g.5gb``.
- Attribute sets compare order-insensitively; the canonical form sorts them.

Two spellings NVIDIA uses elsewhere are accepted by :func:`parse_profile_name` when
``lenient=True``: Kubernetes resource names (``mig-1g.5gb.me``, ``nvidia.com/mig-1g.24gb.me.all``
where ``+`` became ``.``; NVIDIA/k8s-device-plugin MIG resource names) and upper case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ProfileName", "parse_profile_name", "canonical_profile_name"]

_STRICT = re.compile(r"^(?:(?P<c>[0-9]+)c\.)?(?P<g>[0-9]+)g\.(?P<gb>[0-9]+)gb(?:(?P<sign>[+-])(?P<attrs>.*))?$")
_ATTR = re.compile(r"^[A-Za-z][A-Za-z0-9.]*$")
# Attributes that the Kubernetes resource spelling appends with a dot instead of "+".
_RESOURCE_ATTRS = ("me.all", "me", "gfx")


@dataclass(frozen=True, order=True)
class ProfileName:
    """A parsed profile name. ``compute`` is C (equal to ``gpu_slices`` when not written)."""

    gpu_slices: int
    memory_gb: int
    compute: int
    attributes: tuple[str, ...] = ()
    negative: bool = False

    @property
    def attribute(self) -> str:
        """The suffix as written in names: ``""``, ``"+me"``, ``"+me.all"``, ``"-me"``, ``"+gfx"``."""
        if not self.attributes:
            return ""
        return ("-" if self.negative else "+") + ",".join(self.attributes)

    @property
    def is_compute_instance(self) -> bool:
        """True for ``Cc.Gg`` names with C < G (a compute-instance profile inside a GPU instance)."""
        return self.compute != self.gpu_slices

    @property
    def gpu_instance(self) -> ProfileName:
        """The GPU-instance part: the same name without the ``Cc.`` prefix."""
        return ProfileName(self.gpu_slices, self.memory_gb, self.gpu_slices, self.attributes, self.negative)

    def __str__(self) -> str:
        prefix = "" if self.compute == self.gpu_slices else f"{self.compute}c."
        return f"{prefix}{self.gpu_slices}g.{self.memory_gb}gb{self.attribute}"


def _fail(text: str, why: str) -> ValueError:
    return ValueError(f"invalid MIG profile name {text!r}: {why} (expected e.g. '1g.5gb', '2g.10gb', '1g.5gb+me')")


def _from_resource_spelling(text: str) -> str:
    """``nvidia.com/mig-1g.5gb.me`` -> ``1g.5gb+me`` (NVIDIA/k8s-device-plugin "mixed" strategy resource names)."""
    name = text.rsplit("/", 1)[-1]
    if name.startswith("mig-"):
        name = name[4:]
    for attr in _RESOURCE_ATTRS:
        if name.endswith("gb." + attr):
            return name[: -len(attr) - 1] + "+" + attr
    return name


def parse_profile_name(text: str, *, lenient: bool = False) -> ProfileName:
    """Parse a profile name; ``ValueError`` says what is wrong.

    ``lenient`` also accepts upper case, surrounding whitespace and the Kubernetes resource
    spelling (``mig-1g.5gb.me``).
    """
    if not isinstance(text, str):
        raise _fail(str(text), "not a string")
    raw = text
    if lenient:
        text = _from_resource_spelling(text.strip().lower())
    if not text:
        raise _fail(raw, "empty")
    if any(ch.isspace() for ch in text):
        raise _fail(raw, "whitespace is not allowed")
    match = _STRICT.match(text)
    if match is None:
        raise _fail(raw, "does not match [Cc.]Gg.NNgb[+attr|-attr]")
    gpu_slices = int(match["g"])
    memory_gb = int(match["gb"])
    compute = int(match["c"]) if match["c"] is not None else gpu_slices
    attributes: tuple[str, ...] = ()
    negative = False
    if match["sign"] is not None:
        negative = match["sign"] == "-"
        parts = match["attrs"].split(",")
        for part in parts:
            if not part:
                raise _fail(raw, "empty attribute")
            if ("+" in part) or ("-" in part):
                raise _fail(raw, "'+' and '-' attributes cannot be mixed")
            if not _ATTR.match(part) or part.endswith("."):
                raise _fail(raw, f"bad attribute {part!r}")
        if len(set(parts)) != len(parts):
            raise _fail(raw, "repeated attribute")
        attributes = tuple(sorted(parts))
    return ProfileName(gpu_slices, memory_gb, compute, attributes, negative)


def canonical_profile_name(text: str, *, lenient: bool = False) -> str:
    """The canonical spelling: ``1c.1g.5gb`` -> ``1g.5gb``; attributes sorted."""
    return str(parse_profile_name(text, lenient=lenient))
