//! Decoding module arguments into typed structs, with Ansible's coercions: booleans from
//! `yes`/`no`/`true`/`1`…, integers from strings, strings from numbers, lists from
//! comma-separated strings. At load time ([`DecodeMode::LoadTime`]) a templated string
//! (`"{{ x }}"`) stands in for a value of any type, so unknown arguments, missing required ones
//! and bad literal choices are caught before any host is touched, while templated values are
//! checked once rendered.

use crate::vocab::{is_template, rendered_boolean};
use minijinja::Value;
use minijinja::value::ValueKind;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeMode {
    LoadTime,
    RunTime,
}

/// A bad argument; `path` leads to it (`["headers", "X-Foo"]`), empty for the arguments mapping.
#[derive(Clone, Debug, PartialEq)]
pub struct ArgError {
    pub path: Vec<String>,
    pub msg: String,
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.msg)
        } else {
            write!(f, "argument `{}`: {}", self.path.join("."), self.msg)
        }
    }
}

impl std::error::Error for ArgError {}

impl de::Error for ArgError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        let msg = msg.to_string();
        // serde says "unknown field `x`, expected one of ..."; say it in this domain's words.
        let msg = if let Some(rest) = msg.strip_prefix("unknown field ") {
            format!(
                "unsupported argument {}",
                rest.replacen("expected", "supported arguments are", 1)
            )
        } else if let Some(rest) = msg.strip_prefix("missing field ") {
            format!("missing required argument {}", rest)
        } else if let Some(rest) = msg.strip_prefix("unknown variant ") {
            format!("invalid value {}", rest.replacen("expected", "must be", 1))
        } else {
            msg
        };
        ArgError { path: vec![], msg }
    }
}

/// Decodes `v` into `T`.
pub fn decode<T: DeserializeOwned>(v: &Value, mode: DecodeMode) -> Result<T, ArgError> {
    T::deserialize(ValueDe { v, mode })
}

struct ValueDe<'a> {
    v: &'a Value,
    mode: DecodeMode,
}

impl<'a> ValueDe<'a> {
    fn placeholder(&self) -> bool {
        self.mode == DecodeMode::LoadTime && self.v.as_str().is_some_and(is_template)
    }

    fn type_err(&self, want: &str) -> ArgError {
        ArgError {
            path: vec![],
            msg: format!("expected {}, got {}", want, describe(self.v)),
        }
    }

    fn as_i64(&self) -> Result<i64, ArgError> {
        if self.placeholder() {
            return Ok(0);
        }
        match self.v.kind() {
            ValueKind::Number => {
                if let Ok(i) = i64::try_from(self.v.clone()) {
                    return Ok(i);
                }
                let f = f64::try_from(self.v.clone()).map_err(|_| self.type_err("an integer"))?;
                if f.fract() == 0.0 {
                    Ok(f as i64)
                } else {
                    Err(self.type_err("an integer"))
                }
            }
            ValueKind::Bool => Ok(self.v.is_true() as i64),
            ValueKind::String => self
                .v
                .as_str()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .ok_or_else(|| self.type_err("an integer")),
            _ => Err(self.type_err("an integer")),
        }
    }

    fn as_f64(&self) -> Result<f64, ArgError> {
        if self.placeholder() {
            return Ok(0.0);
        }
        match self.v.kind() {
            ValueKind::Number => {
                f64::try_from(self.v.clone()).map_err(|_| self.type_err("a number"))
            }
            ValueKind::String => self
                .v
                .as_str()
                .and_then(|s| s.trim().parse::<f64>().ok())
                .ok_or_else(|| self.type_err("a number")),
            _ => Err(self.type_err("a number")),
        }
    }

    fn as_string(&self) -> Result<String, ArgError> {
        match self.v.kind() {
            ValueKind::String => Ok(self.v.as_str().unwrap_or_default().to_string()),
            ValueKind::Number => Ok(self.v.to_string()),
            ValueKind::Bool => Ok(if self.v.is_true() { "True" } else { "False" }.to_string()),
            _ => Err(self.type_err("a string")),
        }
    }
}

fn describe(v: &Value) -> String {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => "null".into(),
        ValueKind::Bool => format!("boolean {}", v),
        ValueKind::Number => format!("number {}", v),
        ValueKind::String => format!("string {:?}", v.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Iterable => "a list".into(),
        ValueKind::Map => "a mapping".into(),
        _ => format!("{}", v.kind()),
    }
}

macro_rules! int_method {
    ($name:ident, $visit:ident, $t:ty) => {
        fn $name<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
            let i = self.as_i64()?;
            let n = <$t>::try_from(i).map_err(|_| ArgError {
                path: vec![],
                msg: format!("{} is out of range", i),
            })?;
            visitor.$visit(n)
        }
    };
}

impl<'de, 'a> de::Deserializer<'de> for ValueDe<'a> {
    type Error = ArgError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        match self.v.kind() {
            ValueKind::Undefined | ValueKind::None => visitor.visit_unit(),
            ValueKind::Bool => visitor.visit_bool(self.v.is_true()),
            ValueKind::Number => match i64::try_from(self.v.clone()) {
                Ok(i) => visitor.visit_i64(i),
                Err(_) => visitor.visit_f64(self.as_f64()?),
            },
            ValueKind::String => visitor.visit_str(self.v.as_str().unwrap_or_default()),
            ValueKind::Bytes => visitor.visit_bytes(self.v.as_bytes().unwrap_or_default()),
            ValueKind::Seq | ValueKind::Iterable => self.deserialize_seq(visitor),
            ValueKind::Map => self.deserialize_map(visitor),
            _ => visitor.visit_str(&self.v.to_string()),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        if self.placeholder() {
            return visitor.visit_bool(false);
        }
        let b = match self.v.kind() {
            ValueKind::Bool => Some(self.v.is_true()),
            ValueKind::String => rendered_boolean(self.v.as_str().unwrap_or_default()),
            ValueKind::Number => match i64::try_from(self.v.clone()) {
                Ok(0) => Some(false),
                Ok(1) => Some(true),
                _ => None,
            },
            ValueKind::None | ValueKind::Undefined => Some(false),
            _ => None,
        };
        match b {
            Some(b) => visitor.visit_bool(b),
            None => Err(self.type_err("a boolean (yes/no/true/false)")),
        }
    }

    int_method!(deserialize_i8, visit_i8, i8);
    int_method!(deserialize_i16, visit_i16, i16);
    int_method!(deserialize_i32, visit_i32, i32);
    int_method!(deserialize_i64, visit_i64, i64);
    int_method!(deserialize_u8, visit_u8, u8);
    int_method!(deserialize_u16, visit_u16, u16);
    int_method!(deserialize_u32, visit_u32, u32);
    int_method!(deserialize_u64, visit_u64, u64);

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        visitor.visit_f32(self.as_f64()? as f32)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        visitor.visit_f64(self.as_f64()?)
    }
    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        let s = self.as_string()?;
        match s.chars().next() {
            Some(c) => visitor.visit_char(c),
            None => Err(self.type_err("a character")),
        }
    }
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        visitor.visit_string(self.as_string()?)
    }
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        visitor.visit_string(self.as_string()?)
    }
    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        visitor.visit_byte_buf(self.as_string()?.into_bytes())
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        self.deserialize_bytes(visitor)
    }
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        match self.v.kind() {
            ValueKind::Undefined | ValueKind::None => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }
    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        visitor.visit_unit()
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ArgError> {
        visitor.visit_unit()
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ArgError> {
        visitor.visit_newtype_struct(self)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        if self.placeholder() {
            return visitor.visit_seq(SeqDe {
                items: vec![],
                idx: 0,
                mode: self.mode,
            });
        }
        let items: Vec<Value> = match self.v.kind() {
            ValueKind::Seq | ValueKind::Iterable => self
                .v
                .try_iter()
                .map_err(|_| self.type_err("a list"))?
                .collect(),
            // Ansible's list type: "a,b,c" is three items.
            ValueKind::String => self
                .v
                .as_str()
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .map(Value::from)
                .collect(),
            ValueKind::Number | ValueKind::Bool => vec![self.v.clone()],
            ValueKind::None | ValueKind::Undefined => vec![],
            _ => return Err(self.type_err("a list")),
        };
        visitor.visit_seq(SeqDe {
            items,
            idx: 0,
            mode: self.mode,
        })
    }
    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ArgError> {
        self.deserialize_seq(visitor)
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ArgError> {
        self.deserialize_seq(visitor)
    }
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        if self.placeholder() {
            return visitor.visit_map(MapDe {
                entries: vec![],
                idx: 0,
                mode: self.mode,
            });
        }
        match self.v.kind() {
            ValueKind::Map => {
                let keys: Vec<Value> = self
                    .v
                    .try_iter()
                    .map_err(|_| self.type_err("a mapping"))?
                    .collect();
                let entries = keys
                    .into_iter()
                    .map(|k| {
                        let v = self.v.get_item(&k).unwrap_or_default();
                        (
                            k.as_str()
                                .map(|s| s.to_string())
                                .unwrap_or_else(|| k.to_string()),
                            v,
                        )
                    })
                    .collect();
                visitor.visit_map(MapDe {
                    entries,
                    idx: 0,
                    mode: self.mode,
                })
            }
            ValueKind::None | ValueKind::Undefined => visitor.visit_map(MapDe {
                entries: vec![],
                idx: 0,
                mode: self.mode,
            }),
            _ => Err(self.type_err("a mapping")),
        }
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ArgError> {
        self.deserialize_map(visitor)
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ArgError> {
        if self.placeholder() {
            let first = variants.first().copied().unwrap_or_default();
            return visitor.visit_enum(first.into_deserializer());
        }
        let s = self.as_string()?;
        visitor.visit_enum(s.into_deserializer())
    }
    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        self.deserialize_string(visitor)
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        visitor.visit_unit()
    }
}

struct SeqDe {
    items: Vec<Value>,
    idx: usize,
    mode: DecodeMode,
}

impl<'de> de::SeqAccess<'de> for SeqDe {
    type Error = ArgError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ArgError> {
        let Some(v) = self.items.get(self.idx) else {
            return Ok(None);
        };
        let i = self.idx;
        self.idx += 1;
        seed.deserialize(ValueDe { v, mode: self.mode })
            .map(Some)
            .map_err(|mut e| {
                e.path.insert(0, i.to_string());
                e
            })
    }
}

struct MapDe {
    entries: Vec<(String, Value)>,
    idx: usize,
    mode: DecodeMode,
}

impl<'de> de::MapAccess<'de> for MapDe {
    type Error = ArgError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ArgError> {
        let Some((k, _)) = self.entries.get(self.idx) else {
            return Ok(None);
        };
        let key: de::value::StrDeserializer<'_, ArgError> = k.as_str().into_deserializer();
        seed.deserialize(key).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, ArgError> {
        let (k, v) = &self.entries[self.idx];
        self.idx += 1;
        seed.deserialize(ValueDe { v, mode: self.mode })
            .map_err(|mut e| {
                e.path.insert(0, k.clone());
                e
            })
    }
}

/// The `state: present|absent` most modules take.
#[derive(serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    #[default]
    Present,
    Absent,
}

impl Presence {
    /// The `state` a result reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Present => "present",
            Presence::Absent => "absent",
        }
    }
}

/// A file mode as Ansible takes it: an int (YAML `0644` is octal already), an octal string
/// (`"0644"`, `"644"`), a symbolic mode (`u=rw,g=r,o=r`, `u+x`) or `preserve`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileMode {
    Octal(u32),
    Symbolic(String),
    Preserve,
}

impl FileMode {
    /// The argument for `chmod`.
    pub fn chmod_arg(&self) -> Option<String> {
        match self {
            FileMode::Octal(m) => Some(format!("{:04o}", m)),
            FileMode::Symbolic(s) => Some(s.clone()),
            FileMode::Preserve => None,
        }
    }
}

impl<'de> serde::Deserialize<'de> for FileMode {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FileMode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a file mode such as 0644, '0644' or 'u=rw,g=r,o=r'")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<FileMode, E> {
                u32::try_from(v)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .map(FileMode::Octal)
                    .ok_or_else(|| E::custom(format!("mode {} is out of range", v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<FileMode, E> {
                self.visit_i64(v as i64)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<FileMode, E> {
                let s = s.trim();
                if s == "preserve" {
                    return Ok(FileMode::Preserve);
                }
                if is_template(s) {
                    return Ok(FileMode::Symbolic(s.to_string()));
                }
                if !s.is_empty() && s.bytes().all(|c| (b'0'..=b'7').contains(&c)) {
                    return u32::from_str_radix(s, 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .map(FileMode::Octal)
                        .ok_or_else(|| E::custom(format!("mode {:?} is out of range", s)));
                }
                let symbolic = regex_lite_symbolic(s);
                if symbolic {
                    Ok(FileMode::Symbolic(s.to_string()))
                } else {
                    Err(E::custom(format!(
                        "{:?} is not a file mode (write it as '0644' or u=rw,g=r,o=r)",
                        s
                    )))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// `[ugoa]*[-+=][rwxXstugo]*` clauses separated by commas.
fn regex_lite_symbolic(s: &str) -> bool {
    s.split(',').all(|clause| {
        let rest = clause.trim_start_matches(['u', 'g', 'o', 'a']);
        let mut chars = rest.chars();
        matches!(chars.next(), Some('+' | '-' | '=')) && chars.all(|c| "rwxXstugo+-=".contains(c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct A {
        #[serde(alias = "dest")]
        path: String,
        #[serde(default)]
        force: bool,
        mode: Option<FileMode>,
        #[serde(default)]
        retries: u32,
        #[serde(default)]
        names: Vec<String>,
        #[serde(default)]
        state: State,
    }
    #[derive(Deserialize, Debug, PartialEq, Default)]
    #[serde(rename_all = "lowercase")]
    enum State {
        #[default]
        Present,
        Absent,
    }

    fn v(json: &str) -> Value {
        Value::from(minijinja::value::Serde(
            serde_json::from_str::<serde_json::Value>(json).unwrap(),
        ))
    }

    #[test]
    fn coercions() {
        let a: A = decode(
            &v(r#"{"dest": "/x", "force": "yes", "mode": "0644", "retries": "3", "names": "a, b", "state": "absent"}"#),
            DecodeMode::RunTime,
        )
        .unwrap();
        assert_eq!(a.path, "/x");
        assert!(a.force);
        assert_eq!(a.mode, Some(FileMode::Octal(0o644)));
        assert_eq!(a.retries, 3);
        assert_eq!(a.names, vec!["a", "b"]);
        assert_eq!(a.state, State::Absent);
    }

    #[test]
    fn int_mode_is_taken_as_is() {
        let a: A = decode(&v(r#"{"path": "/x", "mode": 420}"#), DecodeMode::RunTime).unwrap();
        assert_eq!(a.mode, Some(FileMode::Octal(0o644)));
    }

    #[test]
    fn unknown_argument_named() {
        let e = decode::<A>(&v(r#"{"path": "/x", "bogus": 1}"#), DecodeMode::LoadTime).unwrap_err();
        assert!(e.msg.contains("unsupported argument `bogus`"), "{}", e);
    }

    #[test]
    fn missing_required() {
        let e = decode::<A>(&v(r#"{"force": true}"#), DecodeMode::LoadTime).unwrap_err();
        assert!(e.msg.contains("missing required argument `path`"), "{}", e);
    }

    #[test]
    fn templates_are_placeholders_at_load_time() {
        let val =
            v(r#"{"path": "/x", "force": "{{ f }}", "retries": "{{ n }}", "state": "{{ s }}"}"#);
        assert!(decode::<A>(&val, DecodeMode::LoadTime).is_ok());
        assert!(decode::<A>(&val, DecodeMode::RunTime).is_err());
    }

    #[test]
    fn bad_choice_has_path() {
        let e = decode::<A>(
            &v(r#"{"path": "/x", "state": "gone"}"#),
            DecodeMode::LoadTime,
        )
        .unwrap_err();
        assert_eq!(e.path, vec!["state"]);
        assert!(e.msg.contains("must be `present` or `absent`"), "{}", e);
    }
}
