"""The one Kubernetes client edge: which kubeconfig, how it is merged, and what a failure means for the user.

Every command that talks to a cluster (``status``, ``simulate``, ``validate config --from-cluster``,
``cluster snapshot``, ``node set-geometry``, ``node daemon``) connects through :func:`connect`, so they
all find the same cluster and fail with the same message and exit code.

**Which configuration** (kubectl's order, ``kubectl config view`` shows the same merge):

1. ``--kubeconfig FILE``: that file only; it must exist.
2. ``$KUBECONFIG``: a ``:``-separated list (``;`` on Windows). Files that do not exist are skipped, the rest
   are merged like kubectl does (client-go ``clientcmd.ClientConfigLoadingRules.Load``): clusters, contexts
   and users from every file, the first file to define a name wins; ``current-context`` comes from the first
   file that sets one; relative certificate/key/token paths are relative to the file that holds them.
3. ``~/.kube/config`` when it exists.
4. The in-cluster service account (``KUBERNETES_SERVICE_HOST`` and the token mounted in the pod).

``--context NAME`` picks a context of the merged kubeconfig.

**One error mapping** to :mod:`migctl.errors` exit codes:

=========================================================================  =====
no kubeconfig anywhere, a kubeconfig missing, unreadable, not YAML, not     3
a kubeconfig, an unknown context, no usable in-cluster account
the API server cannot be reached (refused, timeout, TLS), 401, 403,         3
any other HTTP failure
404 for an object the user named (``--node``, ``--config-map``)             2
=========================================================================  =====

Exit 3 for a bad kubeconfig, because the cluster is what cannot be reached; the same configuration
works in kubectl or in none of them. ``kubernetes`` is imported inside the functions: importing this
module stays cheap (``migctl --help``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migctl.errors import ExitCode, InputError, MigctlError, UnreachableError

KUBECONFIG_ENV = "KUBECONFIG"
IN_CLUSTER_ENV = "KUBERNETES_SERVICE_HOST"
TIMEOUT = (10, 120)  # connect, read seconds
#: HTTP statuses worth retrying as they are (0: no HTTP answer at all); a person must act on 401 and 403.
TRANSIENT_STATUS = frozenset({0, 408, 409, 425, 429, 500, 502, 503, 504})
HINT = ("pass --kubeconfig FILE or --context NAME, or set KUBECONFIG (kubectl config view shows what "
        "kubectl uses); status and simulate can also read a snapshot: --cluster FILE")

#: Paths in a kubeconfig that are relative to the file holding them (client-go ``ResolveLocalPaths``).
_CLUSTER_PATHS = ("certificate-authority",)
_USER_PATHS = ("client-certificate", "client-key", "tokenFile")
_SECTIONS = (("clusters", "cluster"), ("contexts", "context"), ("users", "user"))


# --- which kubeconfig -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigSource:
    """Where the configuration comes from: kubeconfig ``paths`` (merged, first wins), or in-cluster."""

    origin: str  # "--kubeconfig", "$KUBECONFIG", "~/.kube/config" or "in-cluster"
    paths: tuple[str, ...] = ()

    @property
    def in_cluster(self) -> bool:
        return not self.paths

    def describe(self) -> str:
        if self.in_cluster:
            return "the in-cluster service account"
        return "kubeconfig " + ":".join(self.paths)


def find_config(kubeconfig: str | os.PathLike[str] | None = None, *,
                environ: Mapping[str, str] | None = None) -> ConfigSource:
    """The configuration kubectl would use, in its order; raises ``UnreachableError`` when there is none."""
    env = os.environ if environ is None else environ
    if kubeconfig is not None and str(kubeconfig) != "":
        path = os.path.expanduser(str(kubeconfig))
        if not os.path.exists(path):
            raise UnreachableError(f"cannot load kubeconfig {kubeconfig}: the file does not exist", hint=HINT)
        return ConfigSource("--kubeconfig", (path,))
    listed = env.get(KUBECONFIG_ENV, "")
    if listed:
        names = [p for p in listed.split(os.pathsep) if p]
        present = tuple(dict.fromkeys(os.path.expanduser(p) for p in names if os.path.exists(os.path.expanduser(p))))
        if present:
            return ConfigSource("$KUBECONFIG", present)
        if env.get(IN_CLUSTER_ENV):
            return ConfigSource("in-cluster")
        raise UnreachableError(
            f"cannot load a Kubernetes configuration: no file of KUBECONFIG={listed} exists"
            " and this is not a pod in a cluster", hint=HINT)
    home = os.path.expanduser(os.path.join("~", ".kube", "config"))
    if os.path.exists(home):
        return ConfigSource("~/.kube/config", (home,))
    if env.get(IN_CLUSTER_ENV):
        return ConfigSource("in-cluster")
    raise UnreachableError(
        f"cannot load a Kubernetes configuration: {home} does not exist, KUBECONFIG is not set"
        " and this is not a pod in a cluster", hint=HINT)


def read_kubeconfig(path: str) -> dict[str, Any] | None:
    """One kubeconfig file as a dict (None when empty); relative paths made absolute against its folder."""
    import yaml

    try:
        from migctl.yamlio.documents import open_regular

        with open_regular(path, "rb") as fh:
            data = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise UnreachableError(f"cannot load kubeconfig {path}: not valid YAML{where}: {problem}", hint=HINT) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise UnreachableError(f"cannot load kubeconfig {path}: {reason}", hint=HINT) from None
    if data is None:
        return None
    if not isinstance(data, dict):
        raise UnreachableError(f"cannot load kubeconfig {path}: not a kubeconfig (a {type(data).__name__}, "
                               "not a mapping with clusters, contexts and users)", hint=HINT)
    base = os.path.dirname(os.path.abspath(path))
    for section, inner in _SECTIONS:
        entries = data.get(section)
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise UnreachableError(f"cannot load kubeconfig {path}: {section} is not a list", hint=HINT)
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
                raise UnreachableError(f"cannot load kubeconfig {path}: {section}[{i}] has no name", hint=HINT)
            body = entry.get(inner)
            if isinstance(body, dict):
                _resolve_paths(body, section, base)
    return data


def _resolve_paths(body: dict[str, Any], section: str, base: str) -> None:
    keys = _CLUSTER_PATHS if section == "clusters" else _USER_PATHS if section == "users" else ()
    for key in keys:
        value = body.get(key)
        if isinstance(value, str) and value and not os.path.isabs(value):
            body[key] = os.path.normpath(os.path.join(base, os.path.expanduser(value)))
    exec_ = body.get("exec") if section == "users" else None
    command = exec_.get("command") if isinstance(exec_, dict) else None
    if isinstance(command, str) and os.sep in command and not os.path.isabs(command):
        exec_["command"] = os.path.normpath(os.path.join(base, command))  # type: ignore[index]


def merge_kubeconfigs(documents: Sequence[Mapping[str, Any] | None]) -> dict[str, Any]:
    """kubectl's merge of several kubeconfigs, highest precedence first.

    Clusters, contexts and users: every name from every file, the first file to define a name wins.
    ``current-context`` (and ``preferences``): the first file that sets a non-empty value.
    """
    merged: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "clusters": [], "contexts": [], "users": []}
    seen: dict[str, set[str]] = {section: set() for section, _ in _SECTIONS}
    for doc in documents:
        if not doc:
            continue
        for section, _ in _SECTIONS:
            for entry in doc.get(section) or []:
                if entry["name"] not in seen[section]:
                    seen[section].add(entry["name"])
                    merged[section].append(entry)
        for key in ("current-context", "preferences"):
            if doc.get(key) and key not in merged:
                merged[key] = doc[key]
    return merged


def load_kubeconfig(source: ConfigSource) -> dict[str, Any]:
    """The merged kubeconfig of ``source`` (a file source)."""
    return merge_kubeconfigs([read_kubeconfig(path) for path in source.paths])


# --- the client ---------------------------------------------------------------------------------------


@dataclass
class Client:
    """A configured ``kubernetes.client.ApiClient`` plus where it points, for messages.

    ``where``: "context NAME (https://host)" or "in-cluster (https://host)".
    """

    api_client: Any
    host: str
    where: str
    source: ConfigSource
    context: str | None = None
    _core: Any = field(default=None, repr=False)

    @property
    def core(self) -> Any:
        """The ``CoreV1Api`` on this client."""
        if self._core is None:
            from kubernetes import client

            self._core = client.CoreV1Api(self.api_client)
        return self._core

    @property
    def policy(self) -> Any:
        """The ``PolicyV1Api`` on this client (PodDisruptionBudgets)."""
        from kubernetes import client

        return client.PolicyV1Api(self.api_client)

    def call(self, method: str, *args: Any, what: str | None = None, api: Any = None, **kwargs: Any) -> Any:
        """``CoreV1Api.<method>(*args, **kwargs)`` (or another group's ``api``, e.g. :attr:`policy`); any
        failure raised as the user-facing error."""
        try:
            return getattr(api if api is not None else self.core, method)(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - every failure is mapped in one place
            raise self.error(exc, what or method) from None

    def read_raw(self, method: str, *args: Any, what: str | None = None, **kwargs: Any) -> bytes:
        """A call's answer as the bytes the API server sent (the client's model classes skipped)."""
        response = self.call(method, *args, what=what, _preload_content=False,
                             _request_timeout=kwargs.pop("_request_timeout", TIMEOUT), **kwargs)
        return response.data

    def parse_json(self, data: Any, what: str) -> dict[str, Any]:
        """An answer's JSON object, or UnreachableError naming ``what`` when it is not one."""
        try:
            body = json.loads(data)
        except (ValueError, TypeError):
            raise UnreachableError(f"{self.where}: {what} answered with something that is not JSON") from None
        if not isinstance(body, dict):
            raise UnreachableError(f"{self.where}: {what} answered with an unexpected document")
        return body

    def read_json(self, method: str, *args: Any, what: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """A call answered as raw JSON (the client's model classes skipped)."""
        return self.parse_json(self.read_raw(method, *args, what=what, **kwargs), what or method)

    def list_pages(self, method: str, page_size: int, *, decode: Callable[[Any], tuple[Any, Any] | None] | None = None,
                   **kwargs: Any) -> Iterator[Any]:
        """Yield the ``items`` of each page of a LIST (the object dicts), following ``metadata.continue``.

        ``decode(data)`` may read a page's bytes itself: it returns ``(page, continue token)``, and ``page``
        is yielded instead of the item list, or None to have the page read as JSON here.
        """
        token: Any = None
        while True:
            params = dict(kwargs, limit=page_size)
            if token:
                params["_continue"] = token
            data = self.read_raw(method, **params)
            decoded = decode(data) if decode is not None else None
            if decoded is not None:
                page, token = decoded
                yield page
            else:
                body = self.parse_json(data, method)
                items = body.get("items") or []
                yield [i for i in items if isinstance(i, dict)]
                token = (body.get("metadata") or {}).get("continue")
            if not token:
                return

    def error(self, exc: BaseException, what: str) -> MigctlError:
        """``exc`` from a call as the :mod:`migctl.errors` error the user sees."""
        status, message = describe_failure(exc)
        if status is None:
            return UnreachableError(f"cannot reach the Kubernetes API at {self.host}: {message}",
                                    hint=f"using {self.where}; if kubectl also cannot reach the Kubernetes API "
                                         "server, check the address and the network")
        return error_for_status(status, f"{self.where}: {what} failed: {message}", what)

    def close(self) -> None:
        try:
            self.api_client.close()
        except Exception:  # noqa: BLE001 - closing a pool never matters to the user
            pass


class ApiError(MigctlError):
    """The API server answered a call with an HTTP error (``status``). Exit 2 for 404, else 3."""

    def __init__(self, message: str, *, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.exit_code = ExitCode.USAGE if status == 404 else ExitCode.UNREACHABLE

    @property
    def transient(self) -> bool:
        return self.status in TRANSIENT_STATUS


def describe_failure(exc: BaseException) -> tuple[int | None, str]:
    """``(HTTP status or None when no answer came, one-line reason)`` for any failure of a call."""
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, ApiException):
        status = int(exc.status or 0)
        words = {401: "unauthorized (credentials rejected)", 403: "forbidden (RBAC denies it)",
                 404: "not found"}.get(status, exc.reason or "")
        detail = ""
        try:
            detail = json.loads(exc.body or "{}").get("message", "")
        except (ValueError, TypeError, AttributeError):
            pass
        return (status or None), f"HTTP {status} {words}".rstrip() + (f": {detail}" if detail else "")
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        return status, _one_line(exc)
    reason = getattr(exc, "reason", None) or exc
    return None, _one_line(reason)


def error_for_status(status: int | None, message: str, what: str, *, hint: str | None = None) -> MigctlError:
    """The one mapping of an API failure to an exit code (see the module docstring)."""
    if status is None or status == 0:
        return UnreachableError(message, hint=hint or "is the API server reachable (kubectl cluster-info)?")
    if status == 404:
        return ApiError(message, status=status, hint=hint)
    if status in (401, 403):
        return ApiError(message, status=status,
                        hint=hint or f"your credentials may not allow {what} (kubectl auth can-i); see deploy/rbac.yaml")
    return ApiError(message, status=status, hint=hint)


def _one_line(value: Any) -> str:
    text = str(value).strip().splitlines()
    return text[0] if text else type(value).__name__


def connect(kubeconfig: str | os.PathLike[str] | None = None, context: str | None = None, *,
            retries: int = 1) -> Client:
    """A client for the cluster kubectl would talk to (see the module docstring for the order).

    Raises ``UnreachableError`` (exit 3) with the file, line and reason when no usable configuration exists.
    ``retries``: urllib3 retries per request (1: fail fast on an unreachable server).
    """
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    source = find_config(kubeconfig)
    configuration = client.Configuration()
    if source.in_cluster:
        if context:
            raise UnreachableError(f"cannot use --context {context}: there is no kubeconfig, only the in-cluster "
                                   "service account", hint=HINT)
        try:
            config.load_incluster_config(client_configuration=configuration)
        except (ConfigException, OSError, ValueError) as exc:
            raise UnreachableError(f"cannot load the in-cluster configuration: {_one_line(exc)}", hint=HINT) from None
        where = f"in-cluster ({configuration.host})"
    else:
        merged = load_kubeconfig(source)
        name = context or merged.get("current-context")
        if not merged["contexts"]:
            raise UnreachableError(f"cannot load {source.describe()}: it defines no context", hint=HINT)
        if not name:
            raise UnreachableError(f"cannot load {source.describe()}: no current-context is set", hint=HINT)
        if name not in {c["name"] for c in merged["contexts"]}:
            known = ", ".join(sorted(c["name"] for c in merged["contexts"]))
            raise UnreachableError(f"cannot load {source.describe()}: no context {name!r} (contexts: {known})",
                                   hint=HINT)
        try:
            config.load_kube_config_from_dict(merged, context=name, client_configuration=configuration,
                                              persist_config=False)
        except (ConfigException, OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise UnreachableError(f"cannot load {source.describe()} (context {name}): {_one_line(exc)}",
                                   hint=HINT) from None
        where = f"context {name} ({configuration.host})"
        context = name
    configuration.retries = retries
    return Client(client.ApiClient(configuration), configuration.host, where, source, context)
