//! Resource agent runner: OCF (1.0/1.1), LSB init scripts, heartbeat-class scripts.
