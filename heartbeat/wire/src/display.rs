//! Human-readable dumps of messages for logs.

use std::fmt::Write as _;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::{Msg, Value};

/// One line per field, `name=value`, with a `(T)` prefix for non-string types like
/// heartbeat's own dumps. Binary and compressed values are shown as base64; nested
/// messages are indented by two spaces per level between `{` and `}`; control
/// characters in strings are escaped so a dump never spans unexpected lines.
pub fn to_text(msg: &Msg) -> String {
    let mut out = String::new();
    write_msg(&mut out, msg, 0);
    out
}

fn escape(out: &mut String, bytes: &[u8]) {
    for ch in String::from_utf8_lossy(bytes).chars() {
        if ch.is_control() {
            let _ = write!(out, "{}", ch.escape_default());
        } else {
            out.push(ch);
        }
    }
}

fn write_msg(out: &mut String, msg: &Msg, level: usize) {
    for f in msg.fields() {
        let indent = "  ".repeat(level);
        out.push_str(&indent);
        let digit = char::from(f.value.field_type().digit());
        if !matches!(f.value, Value::Str(_)) {
            let _ = write!(out, "({digit})");
        }
        escape(out, f.name.as_bytes());
        out.push('=');
        match &f.value {
            Value::Str(s) => escape(out, s),
            Value::Bin(b) | Value::Compressed(b) => out.push_str(&B64.encode(b)),
            Value::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    escape(out, item);
                }
                out.push(']');
            }
            Value::Struct(child) | Value::Uncompressed(child) => {
                out.push_str("{\n");
                write_msg(out, child, level + 1);
                out.push_str(&indent);
                out.push('}');
            }
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dumps_every_type() {
        let mut child = Msg::new();
        child.add_str("a", "1");
        let mut m = Msg::with_type("x\ny");
        m.add_bin("srcuuid", [0xc6, 0xf6, 0x38])
            .add_list("l", ["a", "b"])
            .add_struct("c", child);
        assert_eq!(
            to_text(&m),
            "t=x\\ny\n(1)srcuuid=xvY4\n(3)l=[a, b]\n(2)c={\n  a=1\n}\n"
        );
    }
}
