//! The heartbeat message object (`struct ha_msg` in the C originals): an ordered list
//! of typed fields. Order matters because authentication covers the exact bytes, and
//! duplicate names are legal (lookups return the first match).

use std::fmt;

/// Field type digit as it appears on the wire: `(T)name=value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FieldType {
    String = 0,
    Binary = 1,
    Struct = 2,
    List = 3,
    Compressed = 4,
    /// In-memory only: a struct that is compressed into a `Compressed` field when sent.
    Uncompressed = 5,
}

impl FieldType {
    pub fn from_digit(d: u8) -> Option<FieldType> {
        Some(match d {
            b'0' => FieldType::String,
            b'1' => FieldType::Binary,
            b'2' => FieldType::Struct,
            b'3' => FieldType::List,
            b'4' => FieldType::Compressed,
            b'5' => FieldType::Uncompressed,
            _ => return None,
        })
    }

    pub fn digit(self) -> u8 {
        b'0' + self as u8
    }
}

/// A field value. Strings are kept as bytes: the C peers never promise UTF-8, and a
/// re-encoded message must reproduce the bytes it was decoded from.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    Str(Vec<u8>),
    Bin(Vec<u8>),
    Struct(Msg),
    List(Vec<Vec<u8>>),
    /// Raw compressed bytes of a child message, as received (T=4).
    Compressed(Vec<u8>),
    /// A child message to be compressed when the parent is serialized (T=5).
    Uncompressed(Msg),
}

impl Value {
    pub fn field_type(&self) -> FieldType {
        match self {
            Value::Str(_) => FieldType::String,
            Value::Bin(_) => FieldType::Binary,
            Value::Struct(_) => FieldType::Struct,
            Value::List(_) => FieldType::List,
            Value::Compressed(_) => FieldType::Compressed,
            Value::Uncompressed(_) => FieldType::Uncompressed,
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => write!(f, "{:?}", String::from_utf8_lossy(s)),
            Value::Bin(b) => write!(f, "bin{:02x?}", b),
            Value::Struct(m) => write!(f, "struct{:?}", m),
            Value::List(l) => f
                .debug_list()
                .entries(l.iter().map(|s| String::from_utf8_lossy(s)))
                .finish(),
            Value::Compressed(b) => write!(f, "compressed[{} bytes]", b.len()),
            Value::Uncompressed(m) => write!(f, "uncompressed{:?}", m),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub value: Value,
}

/// An ordered, typed name/value message.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Msg {
    fields: Vec<Field>,
}

impl fmt::Debug for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for fld in &self.fields {
            m.entry(&fld.name, &fld.value);
        }
        m.finish()
    }
}

impl Msg {
    pub fn new() -> Msg {
        Msg { fields: Vec::new() }
    }

    /// An empty message with room for `fields` fields.
    pub fn with_capacity(fields: usize) -> Msg {
        Msg {
            fields: Vec::with_capacity(fields),
        }
    }

    /// Makes room for `more` fields beyond the current ones.
    pub fn reserve(&mut self, more: usize) {
        self.fields.reserve(more);
    }

    /// A message whose first field is `t=<msg_type>`.
    pub fn with_type(msg_type: &str) -> Msg {
        // The type plus the control fields hb-core appends (src, seq, hg, ts…).
        let mut m = Msg::with_capacity(12);
        m.add_str("t", msg_type);
        m
    }

    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Appends a field, even if one of that name exists (the wire allows duplicates).
    pub fn add(&mut self, name: &str, value: Value) -> &mut Msg {
        self.fields.push(Field {
            name: name.to_string(),
            value,
        });
        self
    }

    pub fn add_str(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut Msg {
        self.add(name, Value::Str(value.as_ref().to_vec()))
    }

    pub fn add_bin(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut Msg {
        self.add(name, Value::Bin(value.as_ref().to_vec()))
    }

    pub fn add_struct(&mut self, name: &str, child: Msg) -> &mut Msg {
        self.add(name, Value::Struct(child))
    }

    pub fn add_list<I, S>(&mut self, name: &str, items: I) -> &mut Msg
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        let items = items.into_iter().map(|s| s.as_ref().to_vec()).collect();
        self.add(name, Value::List(items))
    }

    /// heartbeat's "modify": replaces the first field of that name, or appends.
    pub fn set(&mut self, name: &str, value: Value) -> &mut Msg {
        if let Some(f) = self.fields.iter_mut().find(|f| f.name == name) {
            f.value = value;
        } else {
            self.add(name, value);
        }
        self
    }

    pub fn set_str(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut Msg {
        self.set(name, Value::Str(value.as_ref().to_vec()))
    }

    pub fn set_bin(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut Msg {
        self.set(name, Value::Bin(value.as_ref().to_vec()))
    }

    /// Removes every field of that name; returns how many were removed.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.fields.len();
        self.fields.retain(|f| f.name != name);
        before - self.fields.len()
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| &f.value)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The raw bytes of a string field.
    pub fn get_bytes(&self, name: &str) -> Option<&[u8]> {
        match self.get(name)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A string field, if it is valid UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        std::str::from_utf8(self.get_bytes(name)?).ok()
    }

    pub fn get_bin(&self, name: &str) -> Option<&[u8]> {
        match self.get(name)? {
            Value::Bin(b) => Some(b),
            _ => None,
        }
    }

    pub fn get_struct(&self, name: &str) -> Option<&Msg> {
        match self.get(name)? {
            Value::Struct(m) | Value::Uncompressed(m) => Some(m),
            _ => None,
        }
    }

    pub fn get_list(&self, name: &str) -> Option<&[Vec<u8>]> {
        match self.get(name)? {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// A string field holding a `%lx` number (seq, hg, ts, dt, ackseq...).
    pub fn get_hex(&self, name: &str) -> Option<u64> {
        u64::from_str_radix(self.get_str(name)?.trim(), 16).ok()
    }

    /// A string field holding a decimal number (NS_rexmit's firstseq/lastseq, ttl...).
    pub fn get_dec(&self, name: &str) -> Option<u64> {
        self.get_str(name)?.trim().parse().ok()
    }

    /// The message type, field `t`.
    pub fn msg_type(&self) -> Option<&str> {
        self.get_str("t")
    }

    /// True if any field is a struct or compressed value: such messages always travel
    /// in netstring form and never carry the in-band classic `auth` field.
    pub fn has_nested(&self) -> bool {
        self.fields.iter().any(|f| {
            matches!(
                f.value,
                Value::Struct(_) | Value::Compressed(_) | Value::Uncompressed(_)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_first_and_keeps_order() {
        let mut m = Msg::with_type("status");
        m.add_str("st", "up").add_str("st", "again");
        m.set_str("st", "active");
        assert_eq!(m.get_str("st"), Some("active"));
        assert_eq!(m.fields()[2].value, Value::Str(b"again".to_vec()));
        m.set_str("dt", "2710");
        assert_eq!(m.fields().last().unwrap().name, "dt");
        assert_eq!(m.get_hex("dt"), Some(10000));
    }

    #[test]
    fn typed_getters_reject_other_types() {
        let mut m = Msg::new();
        m.add_bin("srcuuid", [1u8; 16]);
        assert_eq!(m.get_str("srcuuid"), None);
        assert_eq!(m.get_bin("srcuuid"), Some(&[1u8; 16][..]));
        assert_eq!(m.remove("srcuuid"), 1);
        assert!(m.is_empty());
    }
}
