"""The cloud layer: a thin FSx API seam (api), the driver's domain operations (domain), the
error table (errors) and what the driver knows of a file system (model). The in-memory FSx API
of the unit tests lives with them (tests/reference_driver/fakes.py)."""
