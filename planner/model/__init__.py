"""Cost model: step time (roofline), speculative rounds, branch stragglers -> latency distribution per config."""
