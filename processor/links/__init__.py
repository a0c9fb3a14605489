"""Identity links: phone <-> BSUID per scope, a stateful stage after the identity topic.

Pure parts (no Kafka): `observe` (identity event -> link facts), `state` and `view` (the
per-partition registers and what they publish), `rotation` (the identity_change we announce),
`topology` (one record in, output records out). Kafka edges: `sink`, `restore`, `stage`,
`runner`.
"""
