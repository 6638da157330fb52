//! `ra-agents httpd-server`: a small static HTTP/1.0 server for the
//! tutorial's `httpd` role. It serves files below `--root` and, for `/`
//! without an index.html, a page naming the node (`uname -n`) so a client
//! can tell which node answered after a failover.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::procs::PidFile;

/// Server options.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub bind: IpAddr,
    pub port: u16,
    pub root: Option<PathBuf>,
    pub pidfile: Option<PathBuf>,
}

/// Errors in the server's command line or setup.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("httpd-server: {0}")]
    Usage(String),
    #[error("httpd-server: binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("httpd-server: writing pid file {path}: {source}")]
    PidFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

const USAGE: &str =
    "usage: ra-agents httpd-server [--port N] [--bind ADDR] [--root DIR] [--pidfile FILE]";

/// Parses `--port N --root DIR --bind ADDR --pidfile FILE`.
pub fn parse_args(args: &[OsString]) -> Result<ServerConfig, ServerError> {
    let mut cfg = ServerConfig {
        bind: IpAddr::from([0, 0, 0, 0]),
        port: 80,
        root: None,
        pidfile: None,
    };
    let mut it = args.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| ServerError::Usage(format!("{flag} needs a value; {USAGE}")))
        };
        match flag.as_str() {
            "--port" => {
                let v = value()?;
                cfg.port = v
                    .parse()
                    .map_err(|_| ServerError::Usage(format!("bad port {v:?}")))?;
            }
            "--bind" => {
                let v = value()?;
                cfg.bind = v
                    .parse()
                    .map_err(|_| ServerError::Usage(format!("bad bind address {v:?}")))?;
            }
            "--root" => {
                cfg.root = Some(PathBuf::from(value()?)).filter(|p| !p.as_os_str().is_empty())
            }
            "--pidfile" => cfg.pidfile = Some(PathBuf::from(value()?)),
            "-h" | "--help" => return Err(ServerError::Usage(USAGE.to_string())),
            other => {
                return Err(ServerError::Usage(format!(
                    "unknown option {other}; {USAGE}"
                )))
            }
        }
    }
    Ok(cfg)
}

/// This node's name, as `uname -n` prints it.
pub fn node_name() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.nodename().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".to_string())
}

/// Entry point of `ra-agents httpd-server`.
pub fn main(args: &[OsString]) -> i32 {
    let cfg = match parse_args(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    match serve(&cfg) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 64;

/// Binds, writes the pid file (only once the port is really ours, so a
/// supervisor that waits for it knows the server is ready) and serves
/// forever.
pub fn serve(cfg: &ServerConfig) -> Result<(), ServerError> {
    let addr = SocketAddr::new(cfg.bind, cfg.port);
    let listener = TcpListener::bind(addr).map_err(|source| ServerError::Bind { addr, source })?;
    if let Some(p) = &cfg.pidfile {
        PidFile::new(p)
            .write(std::process::id() as i32)
            .map_err(|source| ServerError::PidFile {
                path: p.clone(),
                source,
            })?;
    }
    let node = Arc::new(node_name());
    let root = Arc::new(cfg.root.clone());
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        if active.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
            // Shed load rather than grow threads without bound.
            continue;
        }
        active.fetch_add(1, Ordering::Relaxed);
        let (node, root, active) = (node.clone(), root.clone(), active.clone());
        std::thread::spawn(move || {
            let _ = handle(stream, &node, root.as_ref().as_deref());
            active.fetch_sub(1, Ordering::Relaxed);
        });
    }
    Ok(())
}

/// Maps a request path below `root`, refusing `..` and other escapes.
pub fn resolve_path(root: &Path, url_path: &str) -> Option<PathBuf> {
    let path = url_path.split(['?', '#']).next().unwrap_or("");
    let mut out = root.to_path_buf();
    for comp in Path::new(path.trim_start_matches('/')).components() {
        match comp {
            Component::Normal(c) => out.push(c),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

fn content_type(p: &Path) -> &'static str {
    match p.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "css" => "text/css",
        "js" => "application/javascript",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

fn respond(
    s: &mut TcpStream,
    status: &str,
    ctype: &str,
    body: &[u8],
    head: bool,
) -> std::io::Result<()> {
    let hdr = format!(
        "HTTP/1.0 {status}\r\nServer: ra-agents-httpd\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(hdr.as_bytes())?;
    if !head {
        s.write_all(body)?;
    }
    s.flush()
}

fn handle(mut stream: TcpStream, node: &str, root: Option<&Path>) -> std::io::Result<()> {
    // A stalled client must not pin a thread forever.
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?).take(16 * 1024);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Drain headers up to the blank line.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let head = method == "HEAD";
    if method != "GET" && !head {
        return respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            b"method not allowed\n",
            false,
        );
    }
    let index = || {
        format!(
            "<html><head><title>{n}</title></head><body><h1>{n}</h1>\
             <p>Served by ra-agents httpd-server on node {n}.</p></body></html>\n",
            n = crate::ocf::xml_escape(node)
        )
    };
    let Some(root) = root else {
        return if target == "/" || target.starts_with("/?") || target == "/index.html" {
            respond(
                &mut stream,
                "200 OK",
                "text/html; charset=utf-8",
                index().as_bytes(),
                head,
            )
        } else {
            respond(
                &mut stream,
                "404 Not Found",
                "text/plain",
                b"not found\n",
                head,
            )
        };
    };
    let Some(mut path) = resolve_path(root, target) else {
        return respond(
            &mut stream,
            "403 Forbidden",
            "text/plain",
            b"forbidden\n",
            head,
        );
    };
    if path.is_dir() {
        path.push("index.html");
        if !path.is_file() {
            return respond(
                &mut stream,
                "200 OK",
                "text/html; charset=utf-8",
                index().as_bytes(),
                head,
            );
        }
    }
    match std::fs::read(&path) {
        Ok(body) => respond(&mut stream, "200 OK", content_type(&path), &body, head),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => respond(
            &mut stream,
            "404 Not Found",
            "text/plain",
            b"not found\n",
            head,
        ),
        Err(_) => respond(
            &mut stream,
            "403 Forbidden",
            "text/plain",
            b"forbidden\n",
            head,
        ),
    }
}

/// Performs `GET <path>` against `addr` with bounded timeouts and returns
/// the status code and the body (the agent's monitor, and tests).
pub fn http_get(addr: SocketAddr, path: &str, timeout: Duration) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: ra-agents\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.take(1024 * 1024).read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status_line = text.lines().next().unwrap_or("");
    let mut parts = status_line.split_whitespace();
    let proto = parts.next().unwrap_or("");
    let code = parts.next().and_then(|c| c.parse::<u16>().ok());
    match code {
        Some(code) if proto.starts_with("HTTP/") => {
            let body = text
                .split_once("\r\n\r\n")
                .map(|(_, b)| b.to_string())
                .unwrap_or_default();
            Ok((code, body))
        }
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not an HTTP status line: {status_line:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_escape_root() {
        let root = Path::new("/srv/www");
        assert_eq!(
            resolve_path(root, "/a/b.html?x=1"),
            Some(PathBuf::from("/srv/www/a/b.html"))
        );
        assert_eq!(resolve_path(root, "/"), Some(PathBuf::from("/srv/www")));
        assert_eq!(resolve_path(root, "/../etc/passwd"), None);
        assert_eq!(resolve_path(root, "/a/../../x"), None);
    }

    #[test]
    fn args_parse_and_reject() {
        let a: Vec<OsString> = ["--port", "8080", "--bind", "127.0.0.1", "--root", "/tmp"]
            .iter()
            .map(OsString::from)
            .collect();
        let c = parse_args(&a).expect("valid");
        assert_eq!(c.port, 8080);
        assert_eq!(c.bind, IpAddr::from([127, 0, 0, 1]));
        assert!(parse_args(&[OsString::from("--port")]).is_err());
        assert!(parse_args(&[OsString::from("--port"), OsString::from("x")]).is_err());
        assert!(parse_args(&[OsString::from("--bogus")]).is_err());
    }
}
