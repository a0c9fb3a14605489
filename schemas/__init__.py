"""msgspec Structs for every boundary of the processor: one module per boundary.

Inputs (`meta`, `connectly`) tolerate unknown fields because webhooks grow; what we own
(`identity`, `classify_line`, `registry`, `control`, `settings`) is strict and frozen.
"""
