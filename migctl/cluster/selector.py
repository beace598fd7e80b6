"""Kubernetes label selectors: parse kubectl's grammar once, match labels, pass the text to the API server.

Grammar (k8s.io/apimachinery pkg/labels/selector.go, ``Parse``): requirements joined by ``,`` (AND), each one of
``key=value``, ``key==value``, ``key!=value``, ``key in (v1,v2)``, ``key notin (v1,v2)``, ``key`` (exists) and
``!key`` (does not exist). ``key!=value`` and ``notin`` also match objects without the key, as in Kubernetes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

from migctl.errors import InputError

if TYPE_CHECKING:
    from migctl.cluster.model import Cluster

__all__ = ["Requirement", "Selector", "parse_selector", "restrict"]

_KEY = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_TOKEN = re.compile(r"\s*(?:(?P<op>==|!=|=|\(|\)|,|!)|(?P<word>[^\s=!(),]+))")
_KEY_RE = re.compile(_KEY + r"\Z")
_VALUE_RE = re.compile(_VALUE + r"\Z")


@dataclass(frozen=True)
class Requirement:
    """One requirement: ``op`` is one of ``in``, ``notin``, ``exists``, ``!exists`` (``=``/``==`` are ``in``
    with one value, ``!=`` is ``notin`` with one value)."""

    key: str
    op: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.op == "exists":
            return self.key in labels
        if self.op == "!exists":
            return self.key not in labels
        if self.op == "in":
            return self.key in labels and labels[self.key] in self.values
        return self.key not in labels or labels[self.key] not in self.values


@dataclass(frozen=True)
class Selector:
    """A parsed selector; ``text`` is what was given (sent as ``labelSelector`` to the API server)."""

    text: str
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(requirement.matches(labels) for requirement in self.requirements)


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise InputError(f"label selector {text!r}: unexpected {text[pos:]!r}")
        out.append(match.group("op") or match.group("word"))
        pos = match.end()
    return out


def _key(text: str, key: str) -> str:
    if not _KEY_RE.match(key) or len(key.rsplit("/", 1)[-1]) > 63:
        raise InputError(f"label selector {text!r}: {key!r} is not a valid label key")
    return key


def _value(text: str, value: str) -> str:
    if not _VALUE_RE.match(value) or len(value) > 63:
        raise InputError(f"label selector {text!r}: {value!r} is not a valid label value")
    return value


def parse_selector(text: str | None) -> Selector | None:
    """``text`` in kubectl's label-selector grammar as a :class:`Selector` (``None`` or blank: no selector);
    a malformed selector raises :class:`~migctl.errors.InputError`."""
    if text is None or not text.strip():
        return None
    tokens = _tokens(text)
    requirements: list[Requirement] = []
    i = 0

    def take() -> str:
        nonlocal i
        if i >= len(tokens):
            raise InputError(f"label selector {text!r}: unexpected end")
        i += 1
        return tokens[i - 1]

    while True:
        token = take()
        if token == "!":
            requirements.append(Requirement(_key(text, take()), "!exists"))
        else:
            key = _key(text, token)
            nxt = tokens[i] if i < len(tokens) else ","
            if nxt == ",":
                requirements.append(Requirement(key, "exists"))
            elif nxt in ("=", "==", "!="):
                i += 1
                value = tokens[i] if i < len(tokens) and tokens[i] not in ("=", "==", "!=", "(", ")", ",", "!") else ""
                if value:
                    i += 1
                requirements.append(Requirement(key, "notin" if nxt == "!=" else "in", (_value(text, value),)))
            elif nxt in ("in", "notin"):
                i += 1
                if take() != "(":
                    raise InputError(f"label selector {text!r}: expected '(' after {nxt!r}")
                values: list[str] = []
                while True:
                    word = take()
                    if word == ")" and not values:
                        break
                    if word in ("=", "==", "!=", "(", ")", ",", "!"):
                        raise InputError(f"label selector {text!r}: expected a value in {nxt} (...)")
                    values.append(_value(text, word))
                    sep = take()
                    if sep == ")":
                        break
                    if sep != ",":
                        raise InputError(f"label selector {text!r}: expected ',' or ')' in {nxt} (...)")
                if not values:
                    raise InputError(f"label selector {text!r}: {nxt} (...) needs at least one value")
                requirements.append(Requirement(key, nxt, tuple(values)))
            else:
                raise InputError(f"label selector {text!r}: unexpected {nxt!r} after {key!r}")
        if i >= len(tokens):
            break
        if take() != ",":
            raise InputError(f"label selector {text!r}: requirements are separated by ','")
    return Selector(text.strip(), tuple(requirements))


def restrict(cluster: "Cluster", selector: Selector | None) -> "Cluster":
    """Keep only ``cluster``'s nodes whose labels match ``selector``, and drop the pods bound (or assigned by
    HAMi) to the others and the warnings about them; pending pods with no node stay. Returns ``cluster``."""
    if selector is None:
        return cluster
    dropped = {node.name for node in cluster.nodes if not selector.matches(node.labels)}
    if not dropped:
        return cluster
    cluster.nodes = [node for node in cluster.nodes if node.name not in dropped]
    cluster.pods = [pod for pod in cluster.pods if (pod.vgpu_node or pod.node_name) not in dropped]
    cluster.warnings = [w for w in cluster.warnings if getattr(w, "node", None) not in dropped]
    cluster._by_name = {}
    return cluster
