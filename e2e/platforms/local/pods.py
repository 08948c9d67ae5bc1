"""Pods of the local platform: real processes running the scenario's `sh -c` command.

A pod sees its volume at /data, as on every platform. Two ways to get there:

* `namespace` (the default for root, including root of a user namespace, which is how
  `fsx-csi` runs the local platform for other users): the pod runs in a private mount
  namespace (`unshare --mount --fork --kill-child`) and chroots into a root made of recursive
  bind mounts of the host's top-level directories plus /data, a bind mount of the published
  target (read-only when the pod mounts the claim read-only, as kubelet's container mount is).
  Everything mounted there vanishes with the namespace, so a killed pod leaves no mount
  behind. `exec` checks enter the same namespace and root with nsenter, like `kubectl exec`.
* `rewrite` (any user): the command runs on the host with every `/data` path rewritten to the
  published target path (and the working directory set to it). Weaker (a command that builds
  the path at run time escapes the rewrite) but needs no privileges.

The pod's environment holds only the scenario variables plus PATH/HOME/LANG, as a container's
would.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from e2e.leaks import ProcessTracker
from e2e.progress import Probe, Progress, WaitTimeout
from e2e.runner import CommandOutcome
from e2e.scenarios import VOLUME_MOUNT_PATH

Isolation = Literal["namespace", "rewrite"]

# Runs inside the new mount namespace: $1 root dir, $2 published target, $3 ro|rw,
# $4 pid file, $5 the pod command. Top-level files (rare) are not carried over.
_ENTER_POD = r"""
set -eu
root=$1; target=$2; access=$3; pidfile=$4; command=$5
mkdir -p "$root"
for entry in /*; do
  name=${entry#/}
  if [ -L "$entry" ]; then
    ln -s "$(readlink "$entry")" "$root/$name"
  elif [ -d "$entry" ]; then
    mkdir -p "$root/$name"
    mount --rbind "$entry" "$root/$name"
  fi
done
mkdir -p "$root/data"
mount --bind "$target" "$root/data"
if [ "$access" = ro ]; then mount -o remount,bind,ro "$root/data"; fi
echo $$ > "$pidfile"
exec chroot "$root" /bin/sh -c 'cd / && exec /bin/sh -c "$1"' pod "$command"
"""

_DATA_PATH = re.compile(r"(?<![\w./-])" + re.escape(VOLUME_MOUNT_PATH) + r"(?=/|\b|$)")


def rewrite_data_path(command: str, target: Path) -> str:
    """`command` with the pod mount path /data replaced by the published target path."""
    return _DATA_PATH.sub(str(target), command)


def namespace_isolation_missing() -> str | None:
    """Why namespace isolation cannot run here, or None."""
    if os.geteuid() != 0:
        return "not root (mount namespaces with bind mounts need root, or root of a user namespace)"
    for tool in ("unshare", "nsenter", "chroot", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} is not on PATH (util-linux / coreutils)"
    return None


@dataclass
class RunningPod:
    name: str
    node: int
    target: Path
    log: Path
    env: dict[str, str]
    process_name: str
    pid_file: Path | None  # namespace isolation: the pid of the chrooted shell


class PodRunner:
    def __init__(
        self,
        isolation: Isolation,
        tracker: ProcessTracker,
        work_dir: Path,
        progress: Progress,
    ) -> None:
        self.isolation = isolation
        self._tracker = tracker
        self._work_dir = work_dir
        self._progress = progress

    def _environment(self, variables: Mapping[str, str], target: Path) -> dict[str, str]:
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root",
            "LANG": "C.UTF-8",
            **variables,
        }
        if self.isolation == "rewrite":
            env["HOME"] = str(target)
        return env

    def start(
        self,
        name: str,
        node: int,
        command: str,
        target: Path,
        read_only: bool,
        variables: Mapping[str, str],
        startup_timeout_s: float = 30.0,
    ) -> RunningPod:
        pod_dir = self._work_dir / name
        pod_dir.mkdir(parents=True, exist_ok=True)
        log = pod_dir / "output.log"
        env = self._environment(variables, target)
        process_name = f"pod/{name}"
        pid_file: Path | None = None
        with log.open("wb") as output:
            if self.isolation == "namespace":
                pid_file = pod_dir / "pid"
                argv = [
                    "unshare", "--mount", "--propagation", "private", "--fork",
                    "--kill-child", "/bin/sh", "-c", _ENTER_POD, "enter-pod",
                    str(pod_dir / "root"), str(target), "ro" if read_only else "rw",
                    str(pid_file), command,
                ]  # fmt: skip
                # SIGKILL if the harness dies: `unshare --fork` ignores SIGTERM, and its
                # --kill-child takes the pod's shell with it only when unshare itself dies.
                process = self._tracker.start(
                    process_name, argv, death_signal="KILL", stdout=output,
                    stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL,
                )  # fmt: skip
            else:
                process = self._tracker.start(
                    process_name,
                    ["/bin/sh", "-c", rewrite_data_path(command, target)],
                    stdout=output, stderr=subprocess.STDOUT, env=env, cwd=target,
                    stdin=subprocess.DEVNULL,
                )  # fmt: skip
        pod = RunningPod(name, node, target, log, env, process_name, pid_file)
        if pid_file is not None:
            # The pod "runs" once its shell is inside its root; an early exit is a failed start.
            def probe() -> Probe:
                if pid_file.exists() and pid_file.read_text().strip():
                    return Probe(True, "running")
                if process.poll() is not None:
                    return Probe(True, f"exited with {process.returncode}")
                return Probe(False, "setting up the pod's mount namespace")

            self._progress.wait(f"pod {name} to start", probe, startup_timeout_s, poll_s=0.02)
        return pod

    def wait_exit(self, pod: RunningPod, timeout_s: float) -> CommandOutcome:
        process = self._tracker.running().get(pod.process_name)
        if process is not None:

            def probe() -> Probe:
                code = process.poll()
                return Probe(code is not None, "running" if code is None else f"exit {code}")

            try:
                self._progress.wait(f"pod {pod.name} to finish", probe, timeout_s, poll_s=0.05)
            except WaitTimeout:
                self._tracker.stop(pod.process_name)
                return CommandOutcome(None, self.output(pod))
        code = self._tracker.stop(pod.process_name)
        return CommandOutcome(code, self.output(pod))

    def output(self, pod: RunningPod) -> str:
        return pod.log.read_text(errors="replace") if pod.log.exists() else ""

    def is_running(self, pod: RunningPod) -> bool:
        return pod.process_name in self._tracker.running()

    def exec(self, pod: RunningPod, command: str, timeout_s: float = 10.0) -> CommandOutcome:
        """Run `command` inside the running pod, like `kubectl exec POD -- sh -c COMMAND`."""
        if pod.pid_file is not None:
            pid = pod.pid_file.read_text().strip()
            argv = [
                "nsenter", f"--target={pid}", "--mount", "--root", "--wd",
                "/bin/sh", "-c", command,
            ]  # fmt: skip
            cwd = None
        else:
            argv = ["/bin/sh", "-c", rewrite_data_path(command, pod.target)]
            cwd = pod.target
        started = time.monotonic()
        try:
            completed = subprocess.run(
                argv, capture_output=True, env=pod.env, cwd=cwd, timeout=timeout_s, check=False,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            output = (exc.stdout or b"") + (exc.stderr or b"")
            return CommandOutcome(
                None,
                output.decode(errors="replace")
                + f"\n(exec timed out after {time.monotonic() - started:.1f}s)",
            )
        output = completed.stdout + completed.stderr
        return CommandOutcome(completed.returncode, output.decode(errors="replace"))

    def stop(self, pod: RunningPod) -> None:
        self._tracker.stop(pod.process_name)
