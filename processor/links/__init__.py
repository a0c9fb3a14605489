"""Identity links: phone <-> BSUID per scope, a stateful stage after the identity topic.

The pure parts (no Kafka): `observe` (identity event -> link facts), `state` and `view` (the
per-partition registers and what they publish), `rotation` (the identity_change announced),
`topology` (one record in, output records out), `measure` (state size). The stage's Kafka
edge is `processor.stages.links` on the stage runtime; `lookup` reads the links topic.
"""
