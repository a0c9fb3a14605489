"""The pure core: decode -> classify -> gate -> normalize -> route.

No asyncio, no Kafka clients, no clock, no logging set-up: the worker, the replay and the
offline `classify` command all call `Pipeline.process` with the same records.
"""
