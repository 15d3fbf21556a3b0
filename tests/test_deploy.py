"""The deployment files agree with the service: Kubernetes manifests and the compose profile ``scale``, read as YAML.

No cluster and no Docker here: what a typo would break (a probe on a path the app does not serve, a selector
that matches no pod, an HPA aimed at nothing, an image compose does not build) is checked against the app's
routes, the Dockerfile and docker-compose.yml. The container test runs the profile for real.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import REPO

K8S = REPO / "deploy" / "k8s"
LB = REPO / "docker" / "lb"


def load_all(paths: list[Path]) -> dict[str, dict]:
    docs = [d for p in paths for d in yaml.safe_load_all(p.read_text()) if d]
    by_kind = {d["kind"]: d for d in docs}
    assert len(by_kind) == len(docs), "one object of each kind expected"
    return by_kind


@pytest.fixture(scope="module")
def k8s() -> dict[str, dict]:
    return load_all(sorted(K8S.glob("*.yaml")))


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]


@pytest.fixture(scope="module")
def container(k8s: dict[str, dict]) -> dict:
    (c,) = k8s["Deployment"]["spec"]["template"]["spec"]["containers"]
    return c


def service_port() -> int:
    return int(re.search(r"ELMOL_PORT=(\d+)", (REPO / "Dockerfile").read_text()).group(1))


def app_paths() -> set[str]:
    from service.app import create_app

    return set(create_app().openapi()["paths"])


def cpu_cores(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def named_port(container: dict, port: int | str) -> int:
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    return ports[port] if isinstance(port, str) else port


def test_all_kinds_are_there(k8s: dict[str, dict]) -> None:
    assert set(k8s) == {"Deployment", "Service", "HorizontalPodAutoscaler"}
    assert k8s["Deployment"]["apiVersion"] == "apps/v1"
    assert k8s["HorizontalPodAutoscaler"]["apiVersion"] == "autoscaling/v2"


def test_probes_hit_the_service_routes_on_its_port(container: dict, compose: dict) -> None:
    ready, live = container["readinessProbe"]["httpGet"], container["livenessProbe"]["httpGet"]
    assert (ready["path"], live["path"]) == ("/ready", "/health")
    assert {ready["path"], live["path"]} <= app_paths()
    assert named_port(container, ready["port"]) == named_port(container, live["port"]) == service_port()
    assert f"127.0.0.1:{service_port()}{ready['path']}" in " ".join(compose["nlu"]["healthcheck"]["test"])


def test_image_and_settings_match_compose(container: dict, compose: dict) -> None:
    assert container["image"] == compose["nlu"]["image"] == compose["api"]["image"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert set(env) <= set(compose["nlu"]["environment"])
    # one onnxruntime thread per worker: the pod's CPU limit must cover them, or the budget is lost to throttling
    limits, requests = container["resources"]["limits"], container["resources"]["requests"]
    assert int(env["ELMOL_WORKERS"]) * int(env["ELMOL_THREADS"]) <= cpu_cores(limits["cpu"])
    assert cpu_cores(requests["cpu"]) <= cpu_cores(limits["cpu"]) and "memory" in requests and "memory" in limits


def test_runs_as_the_image_user_on_a_read_only_root(k8s: dict[str, dict], container: dict) -> None:
    pod = k8s["Deployment"]["spec"]["template"]["spec"]
    uid = int(re.search(r"useradd --uid (\d+)", (REPO / "Dockerfile").read_text()).group(1))
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == uid
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    # the compose file's tmpfs /tmp: the only place the service may write
    tmp = {m["name"] for m in container["volumeMounts"] if m["mountPath"] == "/tmp"}
    assert tmp and tmp <= {v["name"] for v in pod["volumes"] if "emptyDir" in v}


def test_selectors_match_the_pods(k8s: dict[str, dict], container: dict) -> None:
    deployment = k8s["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = k8s["Service"]["spec"]
    assert service["selector"] and service["selector"].items() <= labels.items()
    assert all(named_port(container, p["targetPort"]) == service_port() for p in service["ports"])


def test_autoscaler_scales_the_deployment_on_cpu(k8s: dict[str, dict], container: dict) -> None:
    hpa = k8s["HorizontalPodAutoscaler"]["spec"]
    deployment = k8s["Deployment"]
    assert hpa["scaleTargetRef"] == {"apiVersion": deployment["apiVersion"], "kind": "Deployment",
                                     "name": deployment["metadata"]["name"]}
    assert 1 <= hpa["minReplicas"] <= deployment["spec"]["replicas"] <= hpa["maxReplicas"]
    (metric,) = hpa["metrics"]
    assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
    assert 0 < metric["resource"]["target"]["averageUtilization"] <= 100
    assert "cpu" in container["resources"]["requests"]  # utilisation is measured against the request


def test_plain_compose_is_untouched_by_the_scale_profile(compose: dict) -> None:
    nlu, api, lb = compose["nlu"], compose["api"], compose["lb"]
    assert "profiles" not in nlu and nlu["ports"] == [f"{service_port()}:{service_port()}"]
    assert api["profiles"] == lb["profiles"] == ["scale"]
    assert "ports" not in api, "replicas cannot share a published port; they are reached through lb"
    assert {k: v for k, v in api.items() if k not in ("profiles", "deploy", "environment")} == \
        {k: v for k, v in nlu.items() if k not in ("ports", "environment")}
    # production replicas: the same settings, without the console pages
    assert api["environment"] == {**nlu["environment"], "ELMOL_CONSOLE": "false"}
    assert lb["depends_on"]["api"]["condition"] == "service_healthy"
    assert lb["environment"]["UPSTREAM"] == f"api:{service_port()}"


def test_load_balancer_listens_where_compose_publishes_and_checks_ready(compose: dict) -> None:
    conf = (LB / "haproxy.cfg").read_text()
    (published,) = compose["lb"]["ports"]
    host, _, inside = published.rpartition(":")
    assert re.search(rf"^\s*bind :{inside}$", conf, re.M) and host.split(":")[-1] != str(service_port())
    # replicas are found by the name compose gives them and taken in only once the service says it is ready
    assert re.search(r'^\s*server-template api "\$\{MAX_REPLICAS\}" "\$\{UPSTREAM\}" resolvers docker', conf, re.M)
    assert f"ENV UPSTREAM={compose['lb']['environment']['UPSTREAM']} " in (LB / "Dockerfile").read_text()
    (ready,) = re.findall(r"option httpchk GET (\S+)", conf)
    assert ready == "/ready" and ready in app_paths()
    for directive in ("option dontlog-normal", "retry-on conn-failure", "X-Request-ID", "errorfile 503"):
        assert directive in conf


def test_load_balancer_refuses_what_the_service_would(compose: dict) -> None:
    from service.settings import Settings

    conf = (LB / "haproxy.cfg").read_text()
    (limit,) = re.findall(r"req\.hdr_val\(content-length\) gt (\d+)", conf)
    assert int(limit) == Settings().max_body_bytes
    unavailable = (LB / "unavailable.http").read_bytes()
    head, _, body = unavailable.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 ") and b"\r\nRetry-After: 1" in head and "detail" in json.loads(body)


def test_compose_services_are_hardened(compose: dict) -> None:
    for name in ("nlu", "api", "lb"):
        service = compose[name]
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
