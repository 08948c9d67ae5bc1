"""mounted_with on kind, k3s and clusters, against the fake API (tests/e2e/fake_kube.py): the
mount-options scenario reads the options the node's mount got from the pod's own mount table
on real Lustre, and from the Lustre emulation's record in the node plugin container on
emulated platforms; a driver that drops the StorageClass's mountOptions fails it, saying what
was expected and seen. The script that reads the records runs for real in sh, over records
laid out as mount.lustre writes them.
"""

from __future__ import annotations

import io
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2e import leaks
from e2e.platforms.kube import mount_options
from e2e.platforms.kube.lustre_helper import CONTAINER_ROOT, ROOT_VOLUME
from e2e.platforms.kube.objects import APP_CONTAINER, KubeRunSettings
from e2e.platforms.kube.observe import schedulable_nodes
from e2e.platforms.kube.operations import KubeScenarioRunner
from e2e.progress import Progress
from e2e.results import Outcome, ScenarioResult
from e2e.scenarios import load_scenarios, select_scenarios
from fsx_csi_harness import mountinfo
from fsx_emulator import lustre
from tests.e2e.fake_kube import FakeCluster, PodScript
from tests.e2e.test_kube_platforms import FastClock

RUN_ID = "e2e-20250101-120000-abc123"
NAMESPACE = "fsx-csi-e2e"
KUBELET = "/var/lib/kubelet"
PLUGIN_POD = "fsx-csi-node-1-0"
MOUNTINFO = "cat /proc/self/mountinfo"


@dataclass
class Node:
    """What the pod on the node sees at /data, and what the node plugin's helper recorded."""

    cluster: FakeCluster
    records_dir: Path
    # "emulated": a bind of the emulation's tmpfs; "lustre": a Lustre client's mount.
    kind: str = "emulated"
    # The options the driver passed to mount -t lustre (what the helper records).
    options: str = "rw,flock"
    # Whether the node plugin pod carries the emulation root.
    plugin_has_root: bool = True
    # The file system the record names (None: the volume's own).
    recorded_file_system: str | None = None
    calls: list[tuple[str, str, list[str]]] = field(default_factory=list)

    volume_seen: tuple[str, str, str] | None = None

    def volume(self) -> tuple[str, str, str]:
        """(pod uid, PV name, file system id) of lock-holder's volume, as the fake holds them
        while the scenario runs (kept for the assertions after its teardown)."""
        if self.volume_seen is None:
            pod = self.cluster.pods[(NAMESPACE, "lock-holder")]
            (pv,) = self.cluster.volumes.values()
            metadata, csi = pod["metadata"], pv["spec"]["csi"]
            self.volume_seen = (metadata["uid"], pv["metadata"]["name"], csi["volumeHandle"])
        return self.volume_seen

    def target(self) -> str:
        uid, pv_name, _ = self.volume()
        return f"{KUBELET}/pods/{uid}/volumes/kubernetes.io~csi/{pv_name}/mount"

    def pod_mountinfo(self) -> str:
        _, _, fs_id = self.volume()
        dns = f"{fs_id}.fsx.us-east-1.amazonaws.com"
        if self.kind == "lustre":
            mount = f"/ /data rw,relatime - lustre 10.0.1.5@tcp:/abcdefgh rw,{self.options},"
            mount += "lazystatfs"
        else:
            mount = f"/abcdefgh /data rw,relatime - tmpfs {dns}@tcp:/ rw,size=1258291200k"
        return f"380 1 0:60 / / rw,relatime - overlay overlay rw\n412 380 0:61 {mount}\n"

    def write_record(self, target: str) -> None:
        _, _, fs_id = self.volume()
        fs_id = self.recorded_file_system or fs_id
        dns = f"{fs_id}.fsx.us-east-1.amazonaws.com"
        self.records_dir.mkdir(parents=True, exist_ok=True)
        (self.records_dir / lustre.record_name(target)).write_text(
            f"source={dns}@tcp:/abcdefgh\ntarget={target}\nfile_system_id={fs_id}\n"
            f"directory=/run/fsx-emulation/{fs_id}/abcdefgh\noptions={self.options}\n"
            "bind_options=rw\nlustre_options=flock\n"
        )

    def exec(
        self, namespace: str, pod: str, container: str, argv: Sequence[str], timeout_s: float
    ) -> tuple[int, str]:
        self.calls.append((pod, container, list(argv)))
        if list(argv) == MOUNTINFO.split():
            return 0, self.pod_mountinfo()
        if pod == "lock-holder" and list(argv) == ["sh", "-c", "cat /data/holder"]:
            return 0, "lock held\n"
        if pod == PLUGIN_POD and argv[:2] == ["sh", "-c"]:
            # The node plugin container's view: its records (here in records_dir; the helper
            # wrote this one when the driver mounted) and its mount table, where the pod's
            # target is mounted.
            self.write_record(self.target())
            table = self.records_dir.parent / "plugin-mountinfo"
            table.write_text(
                f"380 1 0:60 / / rw - overlay overlay rw\n"
                f"500 380 0:61 /abcdefgh {self.target()} rw,relatime shared:5 - tmpfs x@tcp:/ rw\n"
            )
            script = argv[2].replace(mount_options.RECORDS_DIR, str(self.records_dir))
            script = script.replace(MOUNTINFO, f"cat {table}")
            done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=False)
            return done.returncode, done.stdout + done.stderr
        raise AssertionError(f"unexpected exec in {pod}/{container}: {argv}")


def add_node_plugin(cluster: FakeCluster, node: str, with_root: bool) -> None:
    """The node plugin pod of the DaemonSet on `node`, patched as lustre_helper patches it."""
    mounts = [{"name": "kubelet-dir", "mountPath": KUBELET, "mountPropagation": "Bidirectional"}]
    if with_root:
        mounts.append({"name": ROOT_VOLUME, "mountPath": CONTAINER_ROOT})
    cluster.workload_pods[("fsx-csi", PLUGIN_POD)] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": PLUGIN_POD, "namespace": "fsx-csi", "labels": {"app": "fsx-csi-node"}},
        "spec": {
            "nodeName": node,
            "containers": [
                {"name": "node-driver-registrar", "image": "registrar"},
                {"name": "fsx-plugin", "image": "driver", "volumeMounts": mounts},
            ],
        },
        "status": {"phase": "Running"},
    }


def run_mount_options(
    emulator: Any, tmp_path: Path, **node_settings: Any
) -> tuple[ScenarioResult, Node]:
    cluster = FakeCluster(emulator)
    cluster.pod_scripts["lock-holder"] = PodScript(exec_results=[(0, "keeps running")])
    cluster.pod_scripts["lock-contender"] = PodScript(log="flock exit=1\n")
    node = Node(cluster, tmp_path / "records", **node_settings)
    add_node_plugin(cluster, "kind-worker", node.plugin_has_root)
    clients = cluster.clients()
    clients.exec = node  # the fake cluster's API, exec answered by this node
    clock = FastClock()
    progress = Progress(stream=io.StringIO(), clock=clock.clock, sleep=clock.sleep)
    settings = KubeRunSettings(run_id=RUN_ID, platform="kind", namespace=NAMESPACE, pod_image="i")
    runner = KubeScenarioRunner(
        clients,
        leaks.FileSystemGuard(emulator, progress),
        emulator,
        progress,
        settings,
        schedulable_nodes(clients),
    )
    runner.ensure_namespace()
    (scenario,) = select_scenarios(load_scenarios(), ["mount-options"])
    return runner.run(scenario), node


def holder_step(result: ScenarioResult) -> Any:
    return next(step for step in result.steps if step.name == "pod lock-holder")


def test_emulated_the_record_in_the_node_plugin_shows_flock(emulator: Any, tmp_path: Path) -> None:
    result, node = run_mount_options(emulator, tmp_path)

    assert result.outcome is Outcome.PASSED, result.message
    step = holder_step(result)
    assert "mounted with ['flock'] (the Lustre emulation's record of mount -t lustre" in (
        step.message
    )
    assert f"in fsx-csi/{PLUGIN_POD} (fsx-plugin) on kind-worker" in step.message
    # First the pod's own mount table, then the record where the mount was made: the
    # container that has the emulation root, on the pod's node, for this pod's uid and PV.
    uid, pv_name, _ = node.volume()
    assert node.calls[0] == ("lock-holder", APP_CONTAINER, MOUNTINFO.split())
    plugin_pod, container, argv = node.calls[1]
    assert (plugin_pod, container) == (PLUGIN_POD, "fsx-plugin")
    assert argv == ["sh", "-c", mount_options.read_records_script(uid, pv_name)]
    assert node.calls[2] == ("lock-holder", APP_CONTAINER, ["sh", "-c", "cat /data/holder"])


def test_emulated_a_driver_that_dropped_flock_fails_saying_expected_and_seen(
    emulator: Any, tmp_path: Path
) -> None:
    result, _ = run_mount_options(emulator, tmp_path, options="rw")

    assert result.outcome is Outcome.FAILED
    message = holder_step(result).message
    assert message.startswith(
        "pod lock-holder on kind-worker: expected its volume mounted with ['flock'], seen "
        "['rw'] (the Lustre emulation's record of mount -t lustre"
    ), message
    assert "missing ['flock']" in message
    assert "pod events:" in message  # the platform's failure adds events and driver logs
    assert not any(step.name == "pod lock-contender" for step in result.steps)


def test_real_lustre_the_pods_mount_table_is_read_and_no_record(
    emulator: Any, tmp_path: Path
) -> None:
    result, node = run_mount_options(emulator, tmp_path, kind="lustre")

    assert result.outcome is Outcome.PASSED, result.message
    assert "pod lock-holder's /proc/self/mountinfo: lustre 10.0.1.5@tcp:/abcdefgh" in (
        holder_step(result).message
    )
    assert [pod for pod, _, _ in node.calls] == ["lock-holder", "lock-holder"]

    failed, _ = run_mount_options(emulator, tmp_path / "again", kind="lustre", options="noatime")
    assert failed.outcome is Outcome.FAILED
    assert "seen ['rw', 'relatime', 'rw', 'noatime', 'lazystatfs']" in holder_step(failed).message


def test_no_node_plugin_with_the_emulation_root_is_not_checked_with_the_reason(
    emulator: Any, tmp_path: Path
) -> None:
    result, node = run_mount_options(emulator, tmp_path, plugin_has_root=False)

    assert result.outcome is Outcome.PASSED, result.message
    message = holder_step(result).message
    assert "mount options ['flock'] NOT checked: /data in pod lock-holder is tmpfs" in message
    assert "no node plugin pod on kind-worker (fsx-csi/app=fsx-csi-node)" in message
    assert PLUGIN_POD not in [pod for pod, _, _ in node.calls]


def test_a_record_of_another_file_system_does_not_count(emulator: Any, tmp_path: Path) -> None:
    result, _ = run_mount_options(emulator, tmp_path, recorded_file_system="fs-0ther")

    assert result.outcome is Outcome.FAILED
    message = holder_step(result).message
    assert "expected its volume mounted with ['flock'], seen [] (no mount -t lustre of fs-" in (
        message
    )
    assert "for pod lock-holder in the Lustre emulation's records" in message


def test_the_script_prints_this_pods_record_and_staging_records_then_the_mount_table(
    tmp_path: Path,
) -> None:
    """The script for real, over records named as mount.lustre names them."""
    records = tmp_path / "records"
    records.mkdir()
    uid, pv = "0b1c", "pvc-9"
    target = f"{KUBELET}{mount_options.pod_target_suffix(uid, pv)}"
    other = f"{KUBELET}{mount_options.pod_target_suffix('ffff', pv)}"
    for path, fs_id in ((target, "fs-1"), (other, "fs-1"), (f"{KUBELET}/x/globalmount", "fs-2")):
        (records / lustre.record_name(path)).write_text(
            f"target={path}\nfile_system_id={fs_id}\noptions=flock\n"
        )
    script = mount_options.read_records_script(uid, pv, str(records))
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    printed, _, table = done.stdout.partition("=== mountinfo\n")
    records_printed = [text for text in printed.split("--- end of record\n") if text.strip()]
    targets = [lustre.parse_mount_record(text).target for text in records_printed]
    assert sorted(targets) == sorted([target, f"{KUBELET}/x/globalmount"])
    assert mountinfo.mount_at(mountinfo.parse(table), "/") is not None
