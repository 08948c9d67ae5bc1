"""What pyproject.toml cannot say: the wheel carries the top-level fixtures/ directory.

fixtures/ is data only and stays at the top of the checkout (no import package may be named
`fixtures`, a PyPI distribution's name); the wheel installs a copy of it as
fsx_csi_harness/fixtures, where fsx_csi_harness/data.py looks first. Its files are package data
(pyproject.toml); its subdirectories are listed too, as setuptools wants every directory under a
package declared. Everything else about the build is in pyproject.toml.
"""

from setuptools import find_namespace_packages, setup

TOP_LEVEL = ("fsx_csi_harness", "reference_driver", "sanity", "e2e", "fsx_emulator", "qualify")
FIXTURES = "fsx_csi_harness.fixtures"

code = find_namespace_packages(include=[f"{top}*" for top in TOP_LEVEL], exclude=["*.__pycache__"])
data = [FIXTURES, *(f"{FIXTURES}.{sub}" for sub in find_namespace_packages(where="fixtures"))]

setup(packages=[*code, *data], package_dir={FIXTURES: "fixtures"})
