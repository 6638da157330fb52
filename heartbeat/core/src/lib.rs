//! heartbeat protocol core: nodes, links, sequence numbers, retransmission, generations.
