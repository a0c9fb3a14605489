"""Development tooling shipped with the product, kept off its runtime path.

The traffic generator (`generate`, also the demo's and the benchmark's data), the broker
launchers (embedded Tansu, a local Apache Kafka, testcontainers), the fast publisher of
generated records and the `demo` orchestration. Nothing under `processor.core`,
`processor.runtime` or `processor.stages` imports this package; `classify` never loads it.
"""
