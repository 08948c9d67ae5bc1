"""The sanity cases: csi-sanity's suite ported to pytest, plus the strict and FSx profiles.

Run them with `pytest --pyargs sanity --csi.endpoint ...` or `fsx-csi sanity ...`.
"""
