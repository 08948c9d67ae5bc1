"""The kind, cluster and k3s platforms' common ground: a cluster reached through its API only.

clients.py        the API clients (`KubeClients`, `connect`, `check_reachable`)
apply.py          server-side apply of manifests and their removal
observe.py        events, pod states and logs in words; schedulable nodes
readiness.py      waiting until a deployed driver is ready on every node
objects.py        the objects a scenario creates (StorageClass, PV, claim, pods)
operations.py     the scenario runner's operations on a cluster (`KubeOperations`)
removal.py        deleting what a scenario made, and waiting until it is gone
driver_logs.py    the driver's controller and node-plugin logs for failure messages
sweep.py          the leak sweep over what a run left
diagnostics.py    events, object dumps and logs saved into the report on failure
fsx_access.py     the FSx API of a run: boto3 client, port-forward to the emulator
orchestration.py  a whole run: the driver plan and deploy, the scenarios, the sweep
"""
