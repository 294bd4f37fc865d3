//! What `rmesos doc` and docs/modules.md say about a module: [`ModuleDoc`] with one [`ArgDoc`]
//! per argument and the values it returns, and the `const` builders every module writes its
//! argument docs with (`arg`, `req`, `dflt`, `aka`, `one_of`). An argument's type is not written
//! by hand: [`arg_type`] reads it from the module's `Args` struct, the one that decodes it.

/// One argument, for `rmesos doc` and docs/compat.md.
pub struct ArgDoc {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub required: bool,
    pub default: Option<&'static str>,
    pub choices: &'static [&'static str],
    pub help: &'static str,
}

pub struct ModuleDoc {
    pub summary: &'static str,
    pub args: &'static [ArgDoc],
    /// What a `register:` sees besides `changed`, `failed`, `msg` and `diff`: name, meaning.
    pub returns: &'static [(&'static str, &'static str)],
    pub example: &'static str,
}

/// What command, shell, raw and script return.
pub const COMMAND_RETURNS: &[(&str, &str)] = &[
    ("rc", "exit status"),
    ("stdout", "standard output"),
    ("stderr", "standard error"),
    ("stdout_lines", "stdout split into lines"),
    ("stderr_lines", "stderr split into lines"),
    ("cmd", "the command as run"),
    ("start", "when it started"),
    ("end", "when it ended"),
    ("delta", "how long it ran"),
];

/// The attributes a module that writes a file returns (`filekit::add_state`), in one entry.
pub const FILE_ATTRS: (&str, &str) = (
    "mode, owner, group, uid, gid, size, state, checksum",
    "the file's attributes after the task (mode octal as a string, checksum SHA-1)",
);

/// An optional argument with no aliases, default or choices.
pub const fn arg(name: &'static str, help: &'static str) -> ArgDoc {
    ArgDoc {
        name,
        aliases: &[],
        required: false,
        default: None,
        choices: &[],
        help,
    }
}

/// A required argument.
pub const fn req(name: &'static str, help: &'static str) -> ArgDoc {
    ArgDoc {
        required: true,
        ..arg(name, help)
    }
}

/// An optional argument with a default.
pub const fn dflt(name: &'static str, default: &'static str, help: &'static str) -> ArgDoc {
    ArgDoc {
        default: Some(default),
        ..arg(name, help)
    }
}

/// The same doc with aliases.
pub const fn aka(d: ArgDoc, aliases: &'static [&'static str]) -> ArgDoc {
    ArgDoc { aliases, ..d }
}

/// The same doc with choices.
pub const fn one_of(d: ArgDoc, choices: &'static [&'static str]) -> ArgDoc {
    ArgDoc { choices, ..d }
}

/// The type of argument `name` of the module whose arguments decode into `T`, in Ansible's
/// words (`str`, `bool`, `int`, `float`, `list`, `list of str`, `dict`, `path`...; `raw` when
/// the field takes several shapes, such as a mode that may be a number or a string). Found by
/// asking `T`'s deserializer what it expects for that field alone.
pub fn arg_type<T: serde::de::DeserializeOwned>(name: &str) -> String {
    let seen = std::cell::RefCell::new(None);
    let _ = T::deserialize(probe::OneField { name, seen: &seen });
    seen.into_inner().unwrap_or_else(|| "raw".to_string())
}

/// A deserializer that offers one field and records what its type asks for.
mod probe {
    use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    use std::cell::RefCell;

    #[derive(Debug)]
    pub struct Stop;

    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("probe")
        }
    }

    impl std::error::Error for Stop {}

    impl de::Error for Stop {
        fn custom<T: std::fmt::Display>(_: T) -> Self {
            Stop
        }
    }

    /// The argument map `{name: <the recorder>}`.
    pub struct OneField<'a> {
        pub name: &'a str,
        pub seen: &'a RefCell<Option<String>>,
    }

    impl<'de> Deserializer<'de> for OneField<'_> {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Stop> {
            v.visit_map(Entry {
                name: Some(self.name),
                seen: self.seen,
            })
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
            identifier ignored_any
        }
    }

    struct Entry<'a> {
        name: Option<&'a str>,
        seen: &'a RefCell<Option<String>>,
    }

    impl<'de> MapAccess<'de> for Entry<'_> {
        type Error = Stop;
        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            k: K,
        ) -> Result<Option<K::Value>, Stop> {
            match self.name.take() {
                Some(n) => k
                    .deserialize(de::value::StrDeserializer::<Stop>::new(n))
                    .map(Some),
                None => Ok(None),
            }
        }
        fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, v: V) -> Result<V::Value, Stop> {
            v.deserialize(Recorder {
                seen: self.seen,
                prefix: "",
            })
        }
    }

    /// `deserialize_*` methods that record one type name.
    macro_rules! records {
        ($($($m:ident)+ => $ty:literal;)+) => {
            $($(
                fn $m<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
                    self.record($ty)
                }
            )+)+
        };
    }

    /// Records the first thing asked of it (under `prefix`), then stops the decoding.
    struct Recorder<'a> {
        seen: &'a RefCell<Option<String>>,
        prefix: &'static str,
    }

    impl Recorder<'_> {
        fn record<T>(&self, ty: &str) -> Result<T, Stop> {
            let mut seen = self.seen.borrow_mut();
            if seen.is_none() {
                *seen = Some(format!("{}{ty}", self.prefix));
            }
            Err(Stop)
        }
    }

    impl<'de> Deserializer<'de> for Recorder<'_> {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            self.record("raw")
        }
        fn deserialize_bool<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            self.record("bool")
        }
        records! {
            deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
            deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128 => "int";
            deserialize_f32 deserialize_f64 => "float";
        }
        fn deserialize_str<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            self.record("str")
        }
        fn deserialize_string<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            self.record("str")
        }
        fn deserialize_map<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            self.record("dict")
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            _: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            self.record("dict")
        }
        fn deserialize_enum<V: Visitor<'de>>(
            self,
            _: &'static str,
            _: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            self.record("str")
        }
        fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Stop> {
            v.visit_some(self)
        }
        fn deserialize_newtype_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            v: V,
        ) -> Result<V::Value, Stop> {
            v.visit_newtype_struct(self)
        }
        fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Stop> {
            // The element's type: the list's first element is asked for, and recorded.
            let seen = self.seen;
            let r = v.visit_seq(Elements { seen, done: false });
            if seen.borrow().is_none() {
                *seen.borrow_mut() = Some("list".into());
            }
            r
        }
        serde::forward_to_deserialize_any! {
            char bytes byte_buf unit unit_struct tuple tuple_struct identifier ignored_any
        }
    }

    struct Elements<'a> {
        seen: &'a RefCell<Option<String>>,
        done: bool,
    }

    impl<'de> SeqAccess<'de> for Elements<'_> {
        type Error = Stop;
        fn next_element_seed<T: DeserializeSeed<'de>>(
            &mut self,
            t: T,
        ) -> Result<Option<T::Value>, Stop> {
            if std::mem::replace(&mut self.done, true) {
                return Ok(None);
            }
            t.deserialize(Recorder {
                seen: self.seen,
                prefix: "list of ",
            })
            .map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::arg_type;
    use std::collections::BTreeMap;

    #[allow(dead_code)]
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Args {
        name: String,
        #[serde(alias = "dest")]
        path: Option<std::path::PathBuf>,
        force: Option<bool>,
        #[serde(default)]
        retries: u32,
        names: Vec<String>,
        env: Option<BTreeMap<String, String>>,
        state: Option<State>,
        anything: Option<serde_json::Value>,
    }

    #[allow(dead_code)]
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum State {
        Present,
        Absent,
    }

    #[test]
    fn types_come_from_the_args_struct() {
        let t = arg_type::<Args>;
        assert_eq!(t("name"), "str");
        assert_eq!(t("path"), "str");
        assert_eq!(t("force"), "bool");
        assert_eq!(t("retries"), "int");
        assert_eq!(t("names"), "list of str");
        assert_eq!(t("env"), "dict");
        assert_eq!(t("state"), "str");
        assert_eq!(t("anything"), "raw");
    }
}
