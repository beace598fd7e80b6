"""Find every HAMi config in a file and lint it, with positions in the file as given.

A file may hold (any number of YAML documents, each):

- a raw ``device-config.yaml`` (HAMi charts/hami/templates/scheduler/device-configmap.yaml);
- a ``ConfigMap`` with key ``device-config.yaml`` (``hami-scheduler-device``) and/or ``config.json``
  (``hami-device-plugin``, the node config of HAMi device-plugin ConfigMap config.json), also a ``v1 List`` of them as
  ``kubectl get cm -o yaml`` prints it; other Kubernetes objects (a ``helm template`` render) are skipped;
- the device plugin's node config JSON itself (``{"nodeconfig": [...]}``).

A config inside a ConfigMap is a string; it is parsed on its own and every position found in it is
mapped back into the outer file (exactly for a literal block scalar ``|``, else to the scalar's start).

Reading is bounded: files over 10 MB are not read; binary data, syntax errors, deep nesting and alias
bombs each end in one diagnostic (:mod:`migctl.config.yaml_source`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from migctl.config.checks import HamiVersion, check_device_config, check_node_config, sort_key
from migctl.config.diagnostics import CODES, Diagnostic, Severity, diag, pointer
from migctl.config.model import DEVICE_CONFIG_KEY, VENDOR_SECTIONS, DeviceConfig, NodeConfigFile
from migctl.yamlio.numbers import NumberTooLong, loads_json
from migctl.config.yaml_source import Limits, Position, YamlDocument, parse_yaml, yaml_lines
from migctl.yamlio.documents import NotRegularFileError, open_regular

if TYPE_CHECKING:
    from migctl.hardware.catalogue import Catalogue

__all__ = [
    "ConfigKind",
    "FoundConfig",
    "LoadedConfig",
    "load_device_config",
    "load_text",
    "load_bytes",
    "load_path",
    "DEVICE_CONFIG_KEY",
    "NODE_CONFIG_KEY",
]

ConfigKind = Literal["auto", "device-config", "node-config"]
NODE_CONFIG_KEY = "config.json"
MAX_BYTES = Limits().max_bytes


@dataclass(frozen=True)
class Embedding:
    """Maps a position in a string embedded in the file (a ConfigMap value) to the file."""

    first_line: int  # file line of the string's line 1
    indent: int  # columns before the string's column 1
    exact: bool
    anchor: Position  # where the string value starts in the file

    def map(self, line: int | None, column: int | None) -> tuple[int | None, int | None]:
        if line is None:
            return self.anchor
        if self.exact:
            return (self.first_line + line - 1, (column or 1) + self.indent)
        return self.anchor


IDENTITY = Embedding(1, 0, True, (1, 1))


def _embedding(outer_lines: list[str], value_start: Position, inner: str) -> Embedding:
    """Locate the content lines of a block scalar starting at ``value_start`` (the ``|`` indicator)."""
    line, column = value_start
    header = outer_lines[line - 1] if 0 < line <= len(outer_lines) else ""
    indicator = header[column - 1 : column] if column >= 1 else ""
    inner_lines = inner.split("\n")
    if inner_lines and inner_lines[-1] == "":
        inner_lines.pop()
    if indicator == "|" and inner_lines:
        body = outer_lines[line:]
        first = next((s for s in body if s.strip()), "")
        indent = len(first) - len(first.lstrip(" "))
        if len(body) >= len(inner_lines) and all(
            (body[k][indent:] if body[k].strip() else "") == (inner_lines[k] if inner_lines[k].strip() else "")
            for k in range(len(inner_lines))
        ):
            return Embedding(line + 1, indent, True, value_start)
    if "\n" not in inner.rstrip("\n") and header[column - 1 :].startswith(inner.rstrip("\n")):
        return Embedding(line, column - 1, True, value_start)  # a plain one-line value
    return Embedding(line, 0, False, value_start)


@dataclass
class FoundConfig:
    """One config found in a file: its kind, where it came from, HAMi's view of it, and its findings."""

    kind: Literal["device-config", "node-config"]
    origin: str
    document: Any
    config: DeviceConfig | NodeConfigFile | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    version: str | None = None


@dataclass
class LoadedConfig:
    """Everything found in one input: the configs, every diagnostic (located in the file), the text."""

    source: str
    text: str | None
    configs: list[FoundConfig] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def config(self) -> DeviceConfig | None:
        """The first device-config found (as HAMi would read it), or None."""
        for found in self.configs:
            if found.kind == "device-config" and isinstance(found.config, DeviceConfig):
                return found.config
        return None

    @property
    def node_config(self) -> NodeConfigFile | None:
        for found in self.configs:
            if found.kind == "node-config" and isinstance(found.config, NodeConfigFile):
                return found.config
        return None

    @property
    def errors(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity is Severity.error)

    @property
    def warnings(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity is Severity.warning)

    def problem(self) -> str | None:
        """Why no device-config could be read from this input (one sentence naming file and line), or None."""
        if self.config is not None:
            return None
        first = next((d for d in self.diagnostics if d.severity is Severity.error), None)
        if first is None:
            return f"{self.source}: no device-config found"
        where = self.source + (f" line {first.line}" if first.line else "")
        if first.code == "yaml-syntax":
            return f"{where}: device-config.yaml is not valid YAML: {first.message}"
        return f"{where}: {first.message}"

    @property
    def unreadable(self) -> bool:
        """The input could not be read at all (exit code 2 rather than 1)."""
        return any(CODES[d.code].unreadable for d in self.diagnostics)

    @property
    def valid(self) -> bool:
        return self.errors == 0


class _Context:
    def __init__(self, name: str, text: str, kind: ConfigKind, version: HamiVersion, catalogue: Catalogue | None,
                 lint: bool = True) -> None:
        self.name = name
        self.lint = lint
        self.text = text
        self._lines: list[str] | None = None
        self.kind = kind
        self.version = version
        self.catalogue = catalogue
        self.result = LoadedConfig(name, text)

    @property
    def lines(self) -> list[str]:
        if self._lines is None:  # only ConfigMaps need them; a large plain file never pays for it
            self._lines = yaml_lines(self.text)
        return self._lines

    def add(self, diagnostics: list[Diagnostic]) -> None:
        self.result.diagnostics.extend(diagnostics)


def _locate(diagnostics: list[Diagnostic], doc: YamlDocument | None, embedding: Embedding) -> list[Diagnostic]:
    out = []
    for d in diagnostics:
        if d.line is not None:
            line, column = embedding.map(d.line, d.column)
        elif doc is not None:
            inner = doc.locate(d.path, at_key=d.at_key)
            line, column = embedding.map(*inner)
        else:
            line, column = embedding.map(None, None)
        out.append(d.located(line, column))
    return out


def _is_node_config(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    keys = {str(k).casefold() for k in value}
    return "nodeconfig" in keys and not keys & set(VENDOR_SECTIONS)


def _check_config(ctx: _Context, kind: Literal["device-config", "node-config"], value: Any, origin: str,
                  doc: YamlDocument | None, embedding: Embedding) -> None:
    if not ctx.lint:  # read only: the model as HAMi sees it, no findings
        model: Any = NodeConfigFile if kind == "node-config" else DeviceConfig
        config_only = model.from_dict(value) if isinstance(value, dict) else None
        ctx.result.configs.append(FoundConfig(kind, origin, value, config_only, [], None))
        return
    if kind == "node-config":
        found = check_node_config(value)
        config: Any = NodeConfigFile.from_dict(value) if isinstance(value, dict) else None
        version = None
    else:
        found = check_device_config(value, hami_version=ctx.version, catalogue=ctx.catalogue)
        config = DeviceConfig.from_dict(value) if isinstance(value, dict) else None
        from migctl.config.checks import effective_version

        version = effective_version(value.get("nvidia") if isinstance(value, dict) else None, ctx.version)
    located = _locate(found, doc, embedding)
    ctx.result.configs.append(FoundConfig(kind, origin, value, config, located, version))
    ctx.add(located)


def _parse_json(text: str) -> tuple[Any, Diagnostic | None]:
    try:
        return loads_json(text), None
    except NumberTooLong as exc:
        return None, diag("json-syntax", "", f"not valid JSON: {exc}", "the device plugin reads config.json with Go's encoding/json")
    except json.JSONDecodeError as exc:
        return None, diag("json-syntax", "", f"not valid JSON: {exc.msg}",
                          "the device plugin reads config.json with Go's encoding/json", line=exc.lineno, column=exc.colno)
    except RecursionError:
        return None, diag("yaml-too-deep", "", "the JSON nests too deeply to read")


def _embedded(ctx: _Context, text: str, *, json_text: bool, kind: Literal["device-config", "node-config"],
              origin: str, embedding: Embedding) -> None:
    """Parse and lint a config held in a string (the whole file, or a ConfigMap value)."""
    parse_text = text
    json_value: Any = None
    if json_text:
        json_value, problem = _parse_json(text)
        if problem is not None:
            ctx.add(_locate([problem], None, embedding))
            return
        parse_text = text.replace("\t", " ")  # only whitespace can hold a tab in valid JSON
    stream = parse_yaml(parse_text, json_mode=json_text)
    if json_text:
        # The values are Go's (json.loads: "1e5" is a number, YAML 1.1 would read a string); libyaml only
        # supplies the positions, which are none when it cannot read this JSON (rare).
        first = stream.documents[0] if stream.documents and not stream.failed else None
        doc = YamlDocument(json_value, 0, (1, 1), first.positions if first else {}, first.key_positions if first else {})
        stream_docs = [doc]
        stream_diags = [] if stream.failed else stream.diagnostics
    else:
        stream_docs, stream_diags = stream.documents, stream.diagnostics
    ctx.add(_locate(stream_diags, None, embedding))
    if stream.failed and not json_text:
        return
    docs = [d for d in stream_docs if d.value is not None]
    if not docs:
        if not stream_diags:
            ctx.add(_locate([diag("config-empty", "", f"{origin} is empty: HAMi fails with 'all configurations are empty'")],
                            None, embedding))
        return
    _check_config(ctx, kind, docs[0].value, origin, docs[0], embedding)


def _configmap(ctx: _Context, doc: YamlDocument, value: dict[str, Any], base: str) -> None:
    meta = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
    name = f"{meta.get('namespace') or '-'}/{meta.get('name') or '?'}"
    data = value.get("data") if isinstance(value.get("data"), dict) else {}
    wanted = {
        "auto": (DEVICE_CONFIG_KEY, NODE_CONFIG_KEY),
        "device-config": (DEVICE_CONFIG_KEY,),
        "node-config": (NODE_CONFIG_KEY,),
    }[ctx.kind]
    present = [k for k in wanted if k in data]
    if not present:
        cm_name = str(meta.get("name") or "")
        expected = None
        if cm_name.endswith("scheduler-device") and ctx.kind != "node-config":
            expected = DEVICE_CONFIG_KEY
        elif cm_name.endswith("device-plugin") and ctx.kind != "device-config":
            expected = NODE_CONFIG_KEY
        if expected is not None:
            where = base + pointer("data") if "data" in value else base
            ctx.add(_locate([diag("configmap-key-missing", where, f"ConfigMap {name} has no data key {expected!r}",
                                  f"HAMi reads {expected!r}; data keys here: {', '.join(map(str, data)) or 'none'}",
                                  at_key=True)], doc, IDENTITY))
        return
    for key in present:
        ptr = base + pointer("data", key)
        text = data[key]
        if not isinstance(text, str):
            ctx.add(_locate([diag("configmap-value-type", ptr,
                                  f"ConfigMap {name} key {key!r} holds a {type(text).__name__}, not a string",
                                  f"ConfigMap data values are strings: write '{key}: |' and indent the config under it")],
                            doc, IDENTITY))
            continue
        start = doc.positions.get(ptr, doc.locate(ptr))
        embedding = _embedding(ctx.lines, start, text)
        kind: Literal["device-config", "node-config"] = "node-config" if key == NODE_CONFIG_KEY else "device-config"
        _embedded(ctx, text, json_text=key == NODE_CONFIG_KEY, kind=kind,
                  origin=f"ConfigMap {name} key {key}", embedding=embedding)


def _k8s_object(value: Any) -> bool:
    return isinstance(value, dict) and "kind" in value and "apiVersion" in value


def _document(ctx: _Context, doc: YamlDocument, value: Any, base: str, origin: str) -> None:
    if _k8s_object(value):
        kind = value.get("kind")
        if kind == "ConfigMap":
            _configmap(ctx, doc, value, base)
        elif isinstance(kind, str) and kind.endswith("List") and isinstance(value.get("items"), list):
            for i, item in enumerate(value["items"]):
                _document(ctx, doc, item, base + pointer("items", i), f"{origin} item {i}")
        return
    if base:  # a non-object inside a List
        return
    if ctx.kind == "node-config" or (ctx.kind == "auto" and _is_node_config(value)):
        _check_config(ctx, "node-config", value, origin, doc, IDENTITY)
    else:
        _check_config(ctx, "device-config", value, origin, doc, IDENTITY)


def load_text(text: str, *, name: str = "<text>", kind: ConfigKind = "auto", hami_version: HamiVersion = "auto",
              catalogue: Catalogue | None = None, lint: bool = True) -> LoadedConfig:
    """Lint every config in ``text`` (the contents of the file called ``name``); never raises for any input.

    ``lint=False`` only reads: the configs and the problems that stop reading them (syntax, shape,
    a ConfigMap without its key), none of the schema or hardware checks (``migctl status``).
    """
    ctx = _Context(name, text, kind, hami_version, catalogue, lint)
    if name.lower().endswith(".json"):
        if kind == "auto":
            _json_file(ctx, text)
        else:
            _embedded(ctx, text, json_text=True, kind=kind, origin="the file", embedding=IDENTITY)
    else:
        stream = parse_yaml(text)
        ctx.add(_locate(stream.diagnostics, None, IDENTITY))
        documents = [d for d in stream.documents if d.value is not None]
        if not documents and not stream.diagnostics:
            ctx.add([diag("input-empty", "", "the file holds no YAML document",
                          "HAMi fails on an empty device-config with 'all configurations are empty'", line=1, column=1)])
        multi = len(stream.documents) > 1
        for doc in documents:
            _document(ctx, doc, doc.value, "", f"document {doc.index + 1}" if multi else "the file")
    result = ctx.result
    if not result.configs and not result.diagnostics:
        # A manifest directory (``validate config deploy/*.yaml``) holds many files without HAMi config:
        # each is a note, not an error. With an explicit --kind the file was said to hold one: an error.
        # A ConfigMap named like HAMi's that lacks its key is configmap-key-missing, an error either way.
        result.diagnostics.append(diag("no-config-found", "", "no device-config or node config found in the file",
                                       "expected a device-config.yaml, a ConfigMap holding one, or the device "
                                       "plugin's config.json", line=1, column=1,
                                       severity=Severity.error if kind != "auto" else None))
    result.diagnostics = sorted(_dedupe(result.diagnostics), key=sort_key)
    return result


def _json_file(ctx: _Context, text: str) -> None:
    value, problem = _parse_json(text)
    if problem is not None:
        ctx.add([problem])
        return
    kind: Literal["device-config", "node-config"] = "node-config" if _is_node_config(value) else "device-config"
    if _k8s_object(value):
        stream = parse_yaml(text.replace("\t", " "), json_mode=True)
        doc = stream.documents[0] if stream.documents else YamlDocument(value, 0, (1, 1))
        _document(ctx, doc, value, "", "the file")
        return
    _embedded(ctx, text, json_text=True, kind=kind, origin="the file", embedding=IDENTITY)


def _dedupe(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for d in diagnostics:
        key = (d.code, d.path, d.line, d.column, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def _unreadable(name: str, code: str, message: str, hint: str | None = None, line: int | None = None,
                column: int | None = None) -> LoadedConfig:
    return LoadedConfig(name, None, [], [diag(code, "", message, hint, line=line, column=column)])


def decode_text(data: bytes) -> tuple[str | None, Diagnostic | None]:
    """Bytes to text: UTF-8 (a BOM allowed), UTF-16/32 with a BOM; NUL bytes or bad UTF-8 mean binary."""
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
                       (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError as exc:
                return None, diag("input-binary", "", f"not valid {codec} text: {exc.reason}")
            if "\x00" in text:
                break
            return text, None
    if b"\x00" in data:
        at = data.index(b"\x00")
        line = data[:at].count(b"\n") + 1
        return None, diag("input-binary", "", "the file holds binary data (a NUL byte), not text",
                          "give the device-config YAML, a ConfigMap manifest or config.json", line=line)
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, diag("input-binary", "", f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
                          "save the file as UTF-8", line=line)


def load_bytes(data: bytes, *, name: str = "<bytes>", kind: ConfigKind = "auto", hami_version: HamiVersion = "auto",
               catalogue: Catalogue | None = None, lint: bool = True) -> LoadedConfig:
    if len(data) > MAX_BYTES:
        return _unreadable(name, "input-too-large", f"the input is larger than {MAX_BYTES // (1024 * 1024)} MB; not read",
                           "a device-config is a few kilobytes; check the file is the one you meant")
    text, problem = decode_text(data)
    if problem is not None:
        return LoadedConfig(name, None, [], [problem])
    return load_text(text or "", name=name, kind=kind, hami_version=hami_version, catalogue=catalogue, lint=lint)


def read_limited(path: Path) -> tuple[bytes | None, Diagnostic | None]:
    """Read at most ``MAX_BYTES + 1`` bytes; a diagnostic instead when the file cannot be read."""
    try:
        with open_regular(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except IsADirectoryError:
        return None, diag("input-unreadable", "", f"{path} is a directory, not a file")
    except NotRegularFileError as exc:
        return None, diag("input-unreadable", "", f"{path} is {exc.strerror}; give a regular file or '-' for stdin")
    except OSError as exc:
        return None, diag("input-unreadable", "", f"cannot read {path}: {exc.strerror or exc}")
    if len(data) > MAX_BYTES:
        return None, diag("input-too-large", "", f"{path} is larger than {MAX_BYTES // (1024 * 1024)} MB; not read",
                          "a device-config is a few kilobytes; check the file is the one you meant")
    return data, None


def load_path(path: str | os.PathLike[str], *, kind: ConfigKind = "auto", hami_version: HamiVersion = "auto",
              catalogue: Catalogue | None = None, lint: bool = True) -> LoadedConfig:
    """Read and lint one file (bounded to 10 MB); an unreadable file is a diagnostic, never an exception."""
    path = Path(path)
    data, problem = read_limited(path)
    if problem is not None:
        return LoadedConfig(str(path), None, [], [problem])
    return load_bytes(data or b"", name=str(path), kind=kind, hami_version=hami_version, catalogue=catalogue,
                      lint=lint)


def load_device_config(source: str | bytes | os.PathLike[str], *, name: str | None = None, kind: ConfigKind = "auto",
                       hami_version: HamiVersion = "auto", catalogue: Catalogue | None = None,
                       lint: bool = True) -> LoadedConfig:
    """Load and lint a device-config: a :class:`~pathlib.Path` is read, ``bytes``/``str`` are the contents.

    ``result.config`` is the first device-config as HAMi would use it (:class:`DeviceConfig`), or None;
    ``result.diagnostics`` every finding with its position in the input.
    """
    if isinstance(source, os.PathLike):
        return load_path(source, kind=kind, hami_version=hami_version, catalogue=catalogue, lint=lint)
    if isinstance(source, bytes):
        return load_bytes(source, name=name or "<bytes>", kind=kind, hami_version=hami_version, catalogue=catalogue,
                          lint=lint)
    return load_text(source, name=name or "<text>", kind=kind, hami_version=hami_version, catalogue=catalogue,
                     lint=lint)


