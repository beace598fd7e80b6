"""Pods to simulate: the fields of a Pod object the webhook and the schedulers read.

:func:`pod_from_object` builds a :class:`PodSpec` from a Pod dict (as parsed from YAML) and raises
``ValueError`` naming the field when something is the wrong shape. Workload expansion lives in
:mod:`migctl.simulate.workloads`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from migctl.cluster.quantity import int_value, milli_value


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    name: str
    limits: dict[str, Any]
    requests: dict[str, Any]
    init: bool = False
    privileged: bool = False
    sidecar: bool = False  # an init container with restartPolicy: Always (runs beside the app)


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""


@dataclass(frozen=True, slots=True)
class SelectorRequirement:
    key: str
    operator: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PodSpec:
    namespace: str
    name: str
    annotations: dict[str, str] = field(default_factory=dict)
    containers: tuple[ContainerSpec, ...] = ()  # init containers first, then regular ones (HAMi pkg/device/devices.go EncodePodSingleDevice)
    node_selector: dict[str, str] = field(default_factory=dict)
    # required node affinity: OR of terms, each an AND of match expressions
    affinity_terms: tuple[tuple[SelectorRequirement, ...], ...] = ()
    tolerations: tuple[Toleration, ...] = ()
    node_name: str = ""
    source: str = ""  # where it came from, e.g. "pods.yaml#2" or "Deployment web replica 1"

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def scheduling_shape(self) -> tuple:
        """Everything HAMi's webhook and scheduler read of this pod (all but its name, namespace and
        source): two pods of one shape get the same requests, options and verdicts. ``TypeError`` when
        a field holds an unhashable value (a list where a quantity belongs)."""
        return (
            tuple(self.annotations.items()),
            tuple((c.name, tuple(c.limits.items()), tuple(c.requests.items()), c.init, c.privileged, c.sidecar)
                  for c in self.containers),
            tuple(self.node_selector.items()), self.affinity_terms, self.tolerations, self.node_name,
        )

    @property
    def app_containers(self) -> tuple[ContainerSpec, ...]:
        return tuple(c for c in self.containers if not c.init)

    @property
    def init_containers(self) -> tuple[ContainerSpec, ...]:
        return tuple(c for c in self.containers if c.init)

    def cpu_request_m(self) -> int:
        """Pod CPU request as kube-scheduler computes it: max(sum of app, max of init)."""
        return self._effective("cpu", milli_value)

    def memory_request(self) -> int:
        return self._effective("memory", int_value)

    def _effective(self, resource: str, conv: Any) -> int:
        """kube-scheduler's rule: max(app + sidecars, each init container + the sidecars before it)."""
        def req(c: ContainerSpec) -> int:
            value = c.requests.get(resource, c.limits.get(resource))  # requests default to limits
            return conv(value) if value is not None else 0

        sidecars = peak = 0
        for c in self.containers:
            if c.init and c.sidecar:
                sidecars += req(c)
                peak = max(peak, sidecars)
            elif c.init:
                peak = max(peak, sidecars + req(c))
        app = sum(req(c) for c in self.containers if not c.init)
        return max(app + sidecars, peak)


def _mapping(value: Any, where: str, *args: Any) -> dict:
    """``value`` as a mapping (None: empty); ``where % args`` names the field in the error (formatted
    only then: a pod has a dozen fields and a pod file thousands of pods)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{where % args if args else where}: expected a mapping, got {type(value).__name__}")
    return value


def _list(value: Any, where: str, *args: Any) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{where % args if args else where}: expected a list, got {type(value).__name__}")
    return value


def _containers(spec: dict, key: str, init: bool) -> list[ContainerSpec]:
    out = []
    for i, c in enumerate(_list(spec.get(key), "spec.%s", key)):
        c = _mapping(c, "spec.%s[%d]", key, i)
        res = _mapping(c.get("resources"), "spec.%s[%d].resources", key, i)
        limits = _mapping(res.get("limits"), "spec.%s[%d].resources.limits", key, i)
        requests = _mapping(res.get("requests"), "spec.%s[%d].resources.requests", key, i)
        for where, values in (("limits", limits), ("requests", requests)):
            for rname in ("cpu", "memory"):
                if rname in values:
                    try:
                        (milli_value if rname == "cpu" else int_value)(values[rname])
                    except ValueError as exc:
                        raise ValueError(f"spec.{key}[{i}].resources.{where}.{rname}: {exc}") from None
        sc = _mapping(c.get("securityContext"), "spec.%s[%d].securityContext", key, i)
        out.append(ContainerSpec(
            name=str(c.get("name") or f"{'init' if init else 'container'}-{i}"),
            limits={str(k): v for k, v in limits.items()},
            requests={str(k): v for k, v in requests.items()},
            init=init,
            privileged=bool(sc.get("privileged", False)),
            sidecar=init and c.get("restartPolicy") == "Always",
        ))
    return out


def _requirements(exprs: Any, where: str) -> tuple[SelectorRequirement, ...]:
    out = []
    for j, e in enumerate(_list(exprs, where)):
        e = _mapping(e, f"{where}[{j}]")
        out.append(SelectorRequirement(
            key=str(e.get("key", "")),
            operator=str(e.get("operator", "In")),
            values=tuple(str(v) for v in _list(e.get("values"), f"{where}[{j}].values")),
        ))
    return tuple(out)


def pod_from_object(obj: dict, *, default_namespace: str = "default", source: str = "") -> PodSpec:
    """A :class:`PodSpec` from a Pod dict; ``ValueError`` naming the bad field."""
    obj = _mapping(obj, "pod")
    meta = _mapping(obj.get("metadata"), "metadata")
    spec = _mapping(obj.get("spec"), "spec")
    name = meta.get("name") or meta.get("generateName")
    if not name:
        raise ValueError("metadata.name: missing")
    annotations = {str(k): "" if v is None else str(v) for k, v in _mapping(meta.get("annotations"), "metadata.annotations").items()}
    containers = _containers(spec, "initContainers", True) + _containers(spec, "containers", False)
    if not any(not c.init for c in containers):
        raise ValueError("spec.containers: a pod needs at least one container")
    affinity = _mapping(spec.get("affinity"), "spec.affinity")
    node_aff = _mapping(affinity.get("nodeAffinity"), "spec.affinity.nodeAffinity")
    required = _mapping(node_aff.get("requiredDuringSchedulingIgnoredDuringExecution"),
                        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution")
    terms_where = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
    terms = []
    for i, term in enumerate(_list(required.get("nodeSelectorTerms"), terms_where)):
        term = _mapping(term, f"{terms_where}[{i}]")
        reqs = _requirements(term.get("matchExpressions"), f"{terms_where}[{i}].matchExpressions")
        fields = _requirements(term.get("matchFields"), f"{terms_where}[{i}].matchFields")
        # matchFields supports only metadata.name; keep it as a pseudo-label requirement
        reqs += tuple(SelectorRequirement("metadata.name", f.operator, f.values) for f in fields)
        terms.append(reqs)
    tolerations = tuple(
        Toleration(str(t.get("key") or ""), str(t.get("operator") or "Equal"), str(t.get("value") or ""),
                   str(t.get("effect") or ""))
        for t in (_mapping(t, f"spec.tolerations[{i}]") for i, t in enumerate(_list(spec.get("tolerations"), "spec.tolerations")))
    )
    return PodSpec(
        namespace=str(meta.get("namespace") or default_namespace),
        name=str(name),
        annotations=annotations,
        containers=tuple(containers),
        node_selector={str(k): str(v) for k, v in _mapping(spec.get("nodeSelector"), "spec.nodeSelector").items()},
        affinity_terms=tuple(terms),
        tolerations=tolerations,
        node_name=str(spec.get("nodeName") or ""),
        source=source,
    )
