"""The stages: what each Kafka stage does, as a handler the stage runtime runs.

`identity` (the worker, replay and redrive: the pure pipeline over the raw topic), `links`
(phone <-> BSUID links from the identity topic), `control` (the enablement follower the
identity stage loads before its first record) and `replay` (a bounded range of the raw topic).
"""
