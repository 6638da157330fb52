//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const DEBIAN_STONITH: &str = "/usr/sbin/stonith";
pub const DEBIAN_MEATCLIENT: &str = "/usr/sbin/meatclient";
pub const GLUE_EXTERNAL_DIR: &str = "/usr/lib/stonith/plugins/external";

/// Our `stonith` binary with a private external/fence directory.
pub fn ours(ext_dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stonith"));
    c.args(args)
        .env("STONITH_EXTERNAL_DIR", ext_dir)
        .stdin(Stdio::null());
    c
}

pub fn run(mut c: Command) -> Output {
    c.output().expect("spawn")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// An external plugin that records each call (sub-command, args and the
/// environment it sees) into `log`, so tests can check what the bridge
/// sent. `status` exits 7; `off` fails with 3; all else succeeds.
pub fn recording_script(log: &Path) -> String {
    format!(
        r#"#!/bin/sh
echo "op=$1 host=$2 foo=$foo extra=$extra tag=$HA_LOGTAG path1=${{PATH%%:*}}" >> {log}
case $1 in
gethosts) echo NodeA; echo nodeb; exit 0;;
getconfignames) echo foo; exit 0;;
status) exit 7;;
reset|on) echo "did $1 $2"; exit 0;;
off) echo "cannot"; exit 3;;
getinfo-devid) echo "rec id";;
getinfo-devname) echo "rec name";;
getinfo-devdescr) echo "recording test device";;
getinfo-devurl) echo "http://example.invalid/";;
getinfo-xml) echo '<parameters><parameter name="foo" required="1"><content type="string"/></parameter></parameters>';;
*) exit 1;;
esac
exit 0
"#,
        log = log.display()
    )
}

/// Removes a file by exact path on drop (used for scripts temporarily
/// installed where Debian's stonith looks for them).
pub struct RemoveOnDrop(pub PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub fn have(path: &str) -> bool {
    Path::new(path).exists()
}
