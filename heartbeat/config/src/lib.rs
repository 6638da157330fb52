//! heartbeat 3.0.6 configuration files: `ha.cf`, `authkeys`, `haresources`.
