"""The Kafka edges around the pure core: source, sink, checkpoint, worker, admin."""
