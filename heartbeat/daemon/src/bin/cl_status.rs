//! `cl_status`: query the local heartbeat daemon (see `hb_api::clstatus`).
//!
//! The logic lives in hb-api so it can be tested against a fake daemon; this binary
//! adds the original's global 5 s `alarm()` and prints the collected output.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // A hung daemon must not hang scripts: exit like the original's SIGALRM handler.
    std::thread::spawn(|| {
        std::thread::sleep(hb_api::clstatus::OVERALL_TIMEOUT);
        std::process::exit(hb_api::clstatus::TIMEOUT);
    });
    let env_socket = std::env::var("HA_API_SOCKET").ok();
    let out = hb_api::clstatus::run(&args, env_socket.as_deref());
    // Nothing sensible can be done if stdout/stderr are closed; the exit code still counts.
    let _ = std::io::stdout().write_all(out.stdout.as_bytes());
    let _ = std::io::stderr().write_all(out.stderr.as_bytes());
    ExitCode::from(u8::try_from(out.code).unwrap_or(1))
}
