"""The sanity cases: csi-sanity's suite ported to pytest, plus the FSx profile.

Run them with `pytest --pyargs sanity --csi.endpoint ...` or `fsx-csi sanity ...`.
"""
