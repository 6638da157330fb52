//! Shared by `hb_standby` and `hb_takeover`: parse `[all|foreign|local|failback]`
//! and write the classic message to heartbeat's FIFO, as Debian's scripts do
//! through shellfuncs' `ha_clustermsg`.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::ExitCode;

/// Which request the binary makes.
// Each binary constructs one variant: the other looks dead to that crate.
#[allow(dead_code)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Standby,
    Takeover,
}

fn usage(prog: &str) -> ExitCode {
    eprintln!("usage:");
    eprintln!("{prog} [all|foreign|local|failback] [--state-dir DIR]");
    ExitCode::from(1)
}

/// The message body for `resources` (already validated).
pub fn message(req: Request, resources: &str) -> String {
    match req {
        // hb_standby maps failback to foreign; hb_takeover sends it as given.
        Request::Standby => {
            let r = if resources == "failback" {
                "foreign"
            } else {
                resources
            };
            format!(">>>\nt=ask_resources\nrsc_hold={r}\ninfo=me\n<<<\n")
        }
        Request::Takeover => format!(">>>\nt=hb_takeover\nrsc_hold={resources}\n<<<\n"),
    }
}

/// Runs the command line `args` (without argv[0]).
pub fn main_with(req: Request, prog: &str, args: Vec<String>) -> ExitCode {
    let mut state_dir = PathBuf::from("/var/lib/heartbeat");
    let mut resources: Option<String> = None;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--state-dir" => match it.next() {
                Some(d) => state_dir = PathBuf::from(d),
                None => return usage(prog),
            },
            "--help" | "-h" => return usage(prog),
            r if resources.is_none() => resources = Some(r.to_string()),
            _ => {
                eprintln!("{prog}: too many arguments");
                return usage(prog);
            }
        }
    }
    let resources = resources.unwrap_or_else(|| "all".into());
    if !matches!(resources.as_str(), "all" | "foreign" | "local" | "failback") {
        eprintln!("{prog}: wrong resources({resources}).");
        return usage(prog);
    }
    let fifo = state_dir.join("fifo");
    // Non-blocking: with no heartbeat reading, open fails (ENXIO) instead of hanging.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo);
    let mut file = match file {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "{prog}: cannot write to {} (is heartbeat running?): {e}",
                fifo.display()
            );
            return ExitCode::from(1);
        }
    };
    // One write, so the message is not interleaved with another writer's (< PIPE_BUF).
    if let Err(e) = file.write_all(message(req, &resources).as_bytes()) {
        eprintln!("{prog}: write to {} failed: {e}", fifo.display());
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
