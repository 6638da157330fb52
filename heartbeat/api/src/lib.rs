//! heartbeat 3.0.6 local client API (the `/run/heartbeat/register` socket).
