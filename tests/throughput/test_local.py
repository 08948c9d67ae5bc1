"""The throughput volume on the local platform: the reference stack (DriverStack), or a
driver given by its endpoint; one volume published on every node, its raw directory, and
nothing left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from e2e.leaks import mounts_under
from e2e.platforms.local.driver_stack import DriverStack, DriverStackConfig
from e2e.progress import Progress
from e2e.throughput.local import LocalSetupError, LocalVolume, LocalVolumeConfig
from e2e.throughput.runner import mount_points

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the emulated Lustre mounts need root")


def running_drivers_of(run_id: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # exited while we looked
        if "fsx_csi_harness driver" in args and run_id in args:
            found.append(f"{cmdline.parent.name}: {args}")
    return found


@pytest.mark.slow
@pytest.mark.needs_root
@needs_root
def test_one_volume_is_published_on_every_node_over_the_shared_emulation_root(
    tmp_path: Path,
) -> None:
    lines: list[str] = []
    config = LocalVolumeConfig(
        run_id="tp-test-nodes",
        work_dir=tmp_path / "work",
        nodes=3,
        log_dir=tmp_path / "logs",
    )
    with LocalVolume(config, lines.append) as volume:
        clients = volume.clients()
        raw = volume.raw_client()
        # The report's client names, whatever the cluster calls its node plugins.
        assert [c.name for c in clients] == ["node-1", "node-2", "node-3"]
        assert all(c.target == "published" and c.check() is None for c in clients)
        assert all(str(c.directory.resolve()) in mount_points() for c in clients)
        assert raw is not None and raw.target == "raw" and raw.check() is None
        assert volume.volume_id is not None and raw.directory.parent.name == volume.volume_id
        (clients[0].directory / "from-node-1").write_text("one file system")
        assert (clients[2].directory / "from-node-1").read_text() == "one file system"
        assert (raw.directory / "from-node-1").read_text() == "one file system"
        targets = [c.directory for c in clients]
        assert volume.driver_name == "fsx.csi.aws.com" and volume.driver_version
    assert volume.leaks == []
    assert not any(str(t) in mount_points() for t in targets)
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == [
        "driver-controller.log",
        "driver-node-0.log",
        "driver-node-1.log",
        "driver-node-2.log",
    ]
    assert list((tmp_path / "work").iterdir()) == [], "the run directory was not removed"
    assert mounts_under(tmp_path) == []
    assert running_drivers_of("tp-test-nodes") == []
    assert any("published" in line and "node-3" in line for line in lines), lines


@pytest.mark.slow
@pytest.mark.needs_root
@needs_root
def test_a_driver_given_by_its_endpoint_is_one_node_and_its_emulation_root_gives_the_raw_client(
    tmp_path: Path,
) -> None:
    # Someone else's driver in mode all: here the reference one, as qualify's sanity gets it.
    stack = DriverStackConfig(
        run_id="tp-test-external", work_dir=tmp_path / "stack", creation_delay_s=0.2,
        all_in_one=True,
    )  # fmt: skip
    with DriverStack(stack, Progress(quiet=True)) as cluster:
        assert cluster.controller is not None and cluster.nodes == [cluster.controller]
        assert len(cluster.plugins) == 1
        assert cluster.run_dir is not None
        config = LocalVolumeConfig(
            run_id="tp-test-external",
            # The stand-in driver mounts in a mount namespace of its own (DriverStack's
            # Lustre emulation), whose mounts reach the harness only under the stack's run
            # directory (a shared mount): the harness's kubelet root goes there.
            work_dir=cluster.run_dir / "external-kubelet",
            csi_endpoint=cluster.controller.endpoint,
            emulation_root=cluster.emulation_root,
        )
        with LocalVolume(config, lambda line: None) as volume:
            (client,) = volume.clients()
            raw = volume.raw_client()
            assert client.name == "node-1" and client.check() is None
            assert raw is not None and raw.check() is None
            (raw.directory / "raw-side").write_text("same directory")
            assert (client.directory / "raw-side").read_text() == "same directory"
            volume_id = volume.volume_id
            assert volume.driver_name == cluster.driver_name
        assert volume.leaks == []
        assert volume_id is not None
        # DeleteVolume was called: the file system goes (no FSx client on this path waits).
        cluster.guard.wait_gone(volume_id, timeout_s=10)
        # Nothing of the volume is left mounted (the stack's own emulation still is).
        assert mounts_under(config.work_dir) == []
    assert cluster.leaks == []
    assert mounts_under(tmp_path) == []


def test_an_endpoint_that_never_answers_is_a_setup_error_naming_it(tmp_path: Path) -> None:
    endpoint = f"unix://{tmp_path}/nobody-listens.sock"
    config = LocalVolumeConfig(
        run_id="tp-test-absent", work_dir=tmp_path, csi_endpoint=endpoint, start_timeout_s=0.5
    )
    with pytest.raises(LocalSetupError) as raised, LocalVolume(config, lambda line: None):
        pass
    assert endpoint in str(raised.value) and "last state seen: Probe: UNAVAILABLE" in str(
        raised.value
    )


def test_an_external_fsx_endpoint_needs_the_emulation_root_it_serves(tmp_path: Path) -> None:
    config = LocalVolumeConfig(
        run_id="tp-test-noroot", work_dir=tmp_path, aws_endpoint_url="http://127.0.0.1:9"
    )
    with (
        pytest.raises(LocalSetupError, match="--emulation-root DIR"),
        LocalVolume(config, lambda line: None),
    ):
        pass
    assert list(tmp_path.iterdir()) == []
