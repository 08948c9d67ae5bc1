"""The cloud layer: a thin FSx API seam (api), the driver's domain operations (domain), the
error table (errors) and an in-memory FSx for unit tests (fake)."""
