"""Sanity against an installed driver from inside the cluster (e2e/platforms/kube/sanity_pod.py
and `qualify --platform cluster --driver installed`): the pod manifest against the Kubernetes
schemas, its shell script run for real here (a real Unix socket, a stand-in `fsx-csi` on
PATH), and the whole flow against the wire-level fake API (the pod on a node where the driver
is registered, results read from its log, the pod removed, a missing socket FAILED with the
reason, a driver registered nowhere NOT RUN)."""

from __future__ import annotations

import base64
import io
import json
import os
import socket as unix_socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from e2e.platforms.kube import clients as kube_clients
from e2e.platforms.kube import sanity_pod
from e2e.platforms.kube.sanity_pod import MARKER, DriverSocket, parse_pod_log, pod_script
from e2e.platforms.manifests import kube_name
from fsx_csi_harness.results import DriverInfo, Outcome, SuiteResult, TestResult, to_json
from qualify.run import QualifyOptions, run_qualify
from tests.e2e.fake_kube import DRIVER, FakeCluster, PodScript

KUBERNETES_VERSION = "1.31.0"
RUN_ID = "qualify-20260101-000000-sanity"
POD = kube_name(f"fsx-csi-sanity-{RUN_ID}", 63)
REGISTRATION = f"/var/lib/kubelet/plugins/{DRIVER}/csi.sock"
# A driver that names its socket otherwise: the DaemonSet's registrar flag says where.
CUSTOM_REGISTRATION = f"/var/lib/kubelet/plugins/{DRIVER}/node/fsx.sock"
SOCKET = DriverSocket("kind-worker2", REGISTRATION, "DaemonSet kube-system/fsx-csi-node")


def sanity_report(outcome: Outcome = Outcome.PASSED) -> str:
    suite = SuiteResult(
        "sanity",
        outcome,
        tests=[TestResult("Node Service should publish a volume", outcome)],
        driver=DriverInfo(DRIVER, "v1.4.0"),
    )
    return json.dumps(to_json(suite))


def framed(name: str, text: str) -> str:
    encoded = base64.encodebytes(text.encode()).decode().strip()
    return f"{MARKER} begin {name}\n{encoded}\n{MARKER} end {name}"


def test_the_pod_is_valid_kubernetes_and_mounts_the_socket_where_the_host_has_it() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    pod = sanity_pod.render_sanity_pod(
        POD, "default", SOCKET, "fsx-csi-harness:harness", ["--profile", "fsx"],
        {"subnetId": "subnet-1"}, {"fsx-csi-harness/run-id": "r1"},
    )  # fmt: skip
    kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)
    spec = pod["spec"]
    assert spec["nodeName"] == "kind-worker2" and spec["restartPolicy"] == "Never"
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["plugin-dir"]["hostPath"]["path"] == f"/var/lib/kubelet/plugins/{DRIVER}"
    [container] = spec["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["plugin-dir"] == f"/var/lib/kubelet/plugins/{DRIVER}"
    script = container["command"][-1]
    assert f"--csi.endpoint unix://{REGISTRATION}" in script and "--profile fsx" in script


def write_stand_in_sanity(bin_dir: Path, exit_code: int) -> None:
    """An `fsx-csi` that writes the two reports where it is told and exits as told."""
    bin_dir.mkdir()
    script = bin_dir / "fsx-csi"
    report = sanity_report().replace("'", "")
    script.write_text(
        "#!/bin/sh\n"
        'while [ $# -gt 0 ]; do case "$1" in\n'
        f"  --json-report) printf '%s' '{report}' > \"$2\"; shift;;\n"
        '  --junit-xml) echo \'<testsuites tests="1"/>\' > "$2"; shift;;\n'
        '  --csi.testvolumeparameters) cat "$2"; echo; shift;;\n'
        "esac; shift; done\n"
        f"exit {exit_code}\n"
    )
    script.chmod(0o755)


@pytest.mark.parametrize("exit_code", [0, 1])
def test_the_pod_script_brings_both_reports_back_in_its_log(tmp_path: Path, exit_code: int) -> None:
    socket_path = tmp_path / "plugins" / "csi.sock"
    socket_path.parent.mkdir()
    server = unix_socket.socket(unix_socket.AF_UNIX)
    server.bind(str(socket_path))
    write_stand_in_sanity(tmp_path / "bin", exit_code)
    results = tmp_path / "results"
    results.mkdir()
    script = pod_script(
        DriverSocket("node-a", str(socket_path), "test"),
        ["--profile", "fsx"],
        str(tmp_path / "run"),
        results_dir=str(results),
    )
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "NODE_NAME": "node-a",
        "FSX_CSI_SANITY_PARAMETERS": '{"subnetId": "subnet-1"}',
    }
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env, timeout=30)
    server.close()

    assert done.returncode == exit_code, done.stderr
    parsed = parse_pod_log(done.stdout, done.returncode)
    assert parsed.report_json == sanity_report().replace("'", "")
    assert parsed.junit_xml == '<testsuites tests="1"/>\n'
    assert '{"subnetId": "subnet-1"}' in parsed.log, "the parameters reached sanity"
    assert MARKER not in parsed.log
    assert not (tmp_path / "run").exists(), "the pod's target directories are removed"


def test_the_pod_script_says_when_the_socket_is_missing(tmp_path: Path) -> None:
    missing = DriverSocket("node-a", str(tmp_path / "csi.sock"), "the default path")
    done = subprocess.run(
        ["sh", "-c", pod_script(missing, [], str(tmp_path / "run"), str(tmp_path))],
        capture_output=True,
        text=True,
        env={**os.environ, "NODE_NAME": "node-a"},
        timeout=30,
    )
    assert done.returncode == sanity_pod.NO_SOCKET_EXIT
    assert f"no CSI socket at {tmp_path / 'csi.sock'} on node node-a (the default path)" in (
        done.stdout
    )


# ---------------------------------------------------------------- against the fake API


def installed(cluster: FakeCluster, registration_arg: bool = True) -> None:
    """The upstream driver as helm installs it: its node DaemonSet in kube-system, registered
    on the second worker only."""
    args = ["--csi-address=/csi/csi.sock"]
    if registration_arg:
        args.append(f"--kubelet-registration-path={CUSTOM_REGISTRATION}")
    cluster.applied[("DaemonSet", "kube-system", "fsx-csi-node")] = {
        "metadata": {"name": "fsx-csi-node"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "fsx-plugin", "image": "fsx-csi-driver:v1.4.0"},
                        {"name": "node-driver-registrar", "image": "registrar", "args": args},
                    ],
                    "volumes": [
                        {
                            "name": "plugin-dir",
                            "hostPath": {
                                "path": f"/var/lib/kubelet/plugins/{DRIVER}/",
                                "type": "DirectoryOrCreate",
                            },
                        }
                    ],
                }
            }
        },
    }
    cluster.installed_drivers[DRIVER] = ("kind-worker2",)


def qualify_sanity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cluster: FakeCluster
) -> dict[str, Any]:
    monkeypatch.setattr(kube_clients, "connect", lambda path, context=None: cluster.clients())
    run_qualify(
        QualifyOptions(
            platform="cluster",
            driver="installed",
            # The driver as installed; on emulated AWS it is first pointed at the emulator
            # (tests/e2e/test_installed_patch.py).
            aws="real",
            suites=("sanity",),
            report_dir=tmp_path / "reports",
            work_dir=tmp_path / "work",
            run_id=RUN_ID,
            kubeconfig=tmp_path / "kubeconfig",
            settings={"sanity-image": "registry.example/fsx-csi-harness:harness"},
            stream=io.StringIO(),
        )
    )
    summary = json.loads((tmp_path / "reports" / RUN_ID / "summary.json").read_text())
    [suite] = [s for s in summary["suites"] if s["name"] == "sanity"]
    return dict(suite)


def test_qualify_runs_sanity_in_a_pod_on_the_drivers_node_and_reads_its_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator: Any
) -> None:
    cluster = FakeCluster(emulator)
    installed(cluster)
    cluster.pod_scripts[POD] = PodScript(
        log="running sanity\n" + framed("sanity.json", sanity_report()) + "\n"
        + framed("sanity-junit.xml", "<testsuites/>") + f"\n{MARKER} exit 0\n"
    )  # fmt: skip

    suite = qualify_sanity(tmp_path, monkeypatch, cluster)

    assert suite["outcome"] == "passed", suite
    assert suite["driver"] == {"name": DRIVER, "version": "v1.4.0"}
    assert [t["name"] for t in suite["tests"]] == ["Node Service should publish a volume"]
    bundle = tmp_path / "reports" / RUN_ID
    pod = json.loads((bundle / "raw" / "sanity" / "sanity-pod.json").read_text())
    assert pod["spec"]["nodeName"] == "kind-worker2", "the node where the driver is registered"
    assert pod["spec"]["containers"][0]["image"] == "registry.example/fsx-csi-harness:harness"
    # The socket the DaemonSet registers, its directory mounted from the host.
    assert (
        f"--csi.endpoint unix://{CUSTOM_REGISTRATION}"
        in pod["spec"]["containers"][0]["command"][-1]
    )
    [plugin_dir] = [v for v in pod["spec"]["volumes"] if v["name"] == "plugin-dir"]
    assert plugin_dir["hostPath"]["path"] == f"/var/lib/kubelet/plugins/{DRIVER}/node"
    assert (bundle / "raw" / "sanity" / "sanity-junit.xml").read_text() == "<testsuites/>"
    assert ("POST", "/api/v1/namespaces/default/pods") in cluster.requests
    assert ("DELETE", f"/api/v1/namespaces/default/pods/{POD}") in cluster.requests
    assert not cluster.pods, "the sanity pod is removed"


def test_a_missing_socket_fails_sanity_with_the_pods_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator: Any
) -> None:
    cluster = FakeCluster(emulator)
    installed(cluster, registration_arg=False)
    cluster.pod_scripts[POD] = PodScript(
        exit_code=sanity_pod.NO_SOCKET_EXIT,
        log=f"no CSI socket at {REGISTRATION} on node kind-worker2 (DaemonSet "
        "kube-system/fsx-csi-node (no --kubelet-registration-path=: the default path))\n",
    )

    suite = qualify_sanity(tmp_path, monkeypatch, cluster)

    assert suite["outcome"] == "failed"
    assert f"no CSI socket at {REGISTRATION} on node kind-worker2" in suite["message"]
    assert not cluster.pods


def test_a_driver_registered_on_no_node_is_not_run_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator: Any
) -> None:
    cluster = FakeCluster(emulator)

    suite = qualify_sanity(tmp_path, monkeypatch, cluster)

    assert suite["outcome"] == "not_run"
    assert f"no node has the CSI driver {DRIVER} registered" in suite["message"]
    assert ("POST", "/api/v1/namespaces/default/pods") not in cluster.requests
