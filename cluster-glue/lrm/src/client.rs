//! Blocking client for the lrmd JSON socket (used by lrmadmin, the bench and tests).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::model::OpRecord;
use crate::proto::{ErrorBody, Event, Reply, ServerLine};

/// Client-side failures.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to lrmd at {path}: {source}")]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("lrmd connection {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("lrmd closed the connection")]
    Closed,
    #[error("lrmd sent an unreadable line: {0}")]
    Protocol(String),
    #[error("lrmd: {}: {}", serde_json::to_string(&.0.code).unwrap_or_default(), .0.message)]
    Refused(ErrorBody),
    #[error("timed out waiting for lrmd")]
    Timeout,
}

/// A connection to lrmd.
#[derive(Debug)]
pub struct Client {
    path: PathBuf,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
    events: VecDeque<Event>,
}

impl Client {
    /// Connects to the socket at `path`.
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path).map_err(|source| ClientError::Connect {
            path: path.to_path_buf(),
            source,
        })?;
        let writer = stream.try_clone().map_err(|source| ClientError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Client {
            path: path.to_path_buf(),
            reader: BufReader::new(stream),
            writer,
            next_id: 1,
            events: VecDeque::new(),
        })
    }

    fn io(&self, source: std::io::Error) -> ClientError {
        if matches!(
            source.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ) {
            return ClientError::Timeout;
        }
        ClientError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn read_line(&mut self, deadline: Option<Instant>) -> Result<ServerLine, ClientError> {
        let timeout = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(ClientError::Timeout);
                }
                Some(left)
            }
            None => None,
        };
        self.reader
            .get_ref()
            .set_read_timeout(timeout)
            .map_err(|e| self.io(e))?;
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).map_err(|e| self.io(e))?;
        if n == 0 {
            return Err(ClientError::Closed);
        }
        serde_json::from_str(&line)
            .map_err(|e| ClientError::Protocol(format!("{e}: {}", line.trim_end())))
    }

    /// Sends a request object (an `id` is added) and returns the reply's `result`.
    /// Events arriving meanwhile are kept for [`Client::next_event`].
    pub fn call(&mut self, mut request: Value) -> Result<Value, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        if let Value::Object(m) = &mut request {
            m.insert("id".into(), json!(id));
        }
        let mut line =
            serde_json::to_vec(&request).map_err(|e| ClientError::Protocol(e.to_string()))?;
        line.push(b'\n');
        self.writer.write_all(&line).map_err(|e| self.io(e))?;
        loop {
            match self.read_line(None)? {
                ServerLine::Event(e) => self.events.push_back(e),
                ServerLine::Reply(r) => return reply_result(r, id),
            }
        }
    }

    /// Sends raw bytes (tests use it for malformed requests) and reads the next reply.
    pub fn raw(&mut self, bytes: &[u8]) -> Result<Reply, ClientError> {
        self.writer.write_all(bytes).map_err(|e| self.io(e))?;
        loop {
            match self.read_line(Some(Instant::now() + Duration::from_secs(30)))? {
                ServerLine::Event(e) => self.events.push_back(e),
                ServerLine::Reply(r) => return Ok(r),
            }
        }
    }

    /// The next pushed event, waiting until `deadline` (forever if `None`).
    pub fn next_event(&mut self, deadline: Option<Instant>) -> Result<Event, ClientError> {
        if let Some(e) = self.events.pop_front() {
            return Ok(e);
        }
        match self.read_line(deadline)? {
            ServerLine::Event(e) => Ok(e),
            ServerLine::Reply(r) => Err(ClientError::Protocol(format!(
                "unexpected reply {:?}",
                r.id
            ))),
        }
    }

    /// Waits for the result of `call_id`. Other events are kept, in order, for later
    /// [`Client::next_event`] or `wait_result` calls.
    pub fn wait_result(
        &mut self,
        call_id: u64,
        deadline: Option<Instant>,
    ) -> Result<OpRecord, ClientError> {
        let matches = |e: &Event| matches!(e, Event::OpResult(r) if r.call_id == call_id);
        if let Some(pos) = self.events.iter().position(matches) {
            if let Some(Event::OpResult(r)) = self.events.remove(pos) {
                return Ok(r);
            }
        }
        loop {
            match self.read_line(deadline)? {
                ServerLine::Event(Event::OpResult(r)) if r.call_id == call_id => return Ok(r),
                ServerLine::Event(e) => self.events.push_back(e),
                ServerLine::Reply(r) => {
                    return Err(ClientError::Protocol(format!(
                        "unexpected reply {:?}",
                        r.id
                    )))
                }
            }
        }
    }
}

fn reply_result(r: Reply, id: u64) -> Result<Value, ClientError> {
    // A refusal before any request was read (permission denied, over-long line) has a
    // null id.
    if !r.ok && r.id.is_null() {
        if let Some(e) = r.error {
            return Err(ClientError::Refused(e));
        }
    }
    if r.id != json!(id) {
        return Err(ClientError::Protocol(format!(
            "reply id {} for request {id}",
            r.id
        )));
    }
    if r.ok {
        Ok(r.result.unwrap_or(Value::Null))
    } else {
        Err(ClientError::Refused(r.error.unwrap_or(ErrorBody {
            code: crate::proto::ErrorCode::Malformed,
            message: "error reply without error body".into(),
        })))
    }
}
