"""Report bundles: summary.json (versioned schema), junit.xml, index.html and raw outputs.

See README.md in this directory for the bundle layout and every field of summary.json.
"""
