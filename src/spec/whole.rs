//! Whole numbers and kind-tagged sections in the spec, read so that an error names the field.
//!
//! JSON has one number type, and Python's `json` writes `1e3` or `np.float64(8)` as `1000.0`
//! and `8.0`; an integer field therefore takes `64` and `64.0` alike, never `64.5`. A float is
//! read as a whole number only up to 2⁵³, below which every whole number is a float exactly.
//!
//! The sections chosen by a `"kind"` (`memories`, `ensemble.initial`) are read key by key
//! ([`read_section!`]) and then checked against the kind ([`only`]): serde's own tagged enums
//! buffer the section first, and an error inside one named only the section (`memories`), not
//! the field (`memories.n`).

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, Unexpected, Visitor};

/// The largest float read as a whole number (2⁵³).
const EXACT_FLOAT: f64 = 9_007_199_254_740_992.0;

/// The unsigned integer types an integer field can have.
pub trait Unsigned: TryFrom<u64> + Copy {
    const MAX: u64;
}
impl Unsigned for u32 {
    const MAX: u64 = u32::MAX as u64;
}
impl Unsigned for u64 {
    const MAX: u64 = u64::MAX;
}
impl Unsigned for usize {
    const MAX: u64 = usize::MAX as u64;
}

/// One whole number of type `T`, from an integer or a whole float.
pub struct Whole<T>(pub T);

struct WholeVisitor<T>(PhantomData<T>);

impl<T: Unsigned> WholeVisitor<T> {
    fn take<E: de::Error>(&self, v: u64, as_read: Unexpected) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(as_read, self))
    }
}

impl<T: Unsigned> Visitor<'_> for WholeVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match T::MAX {
            u64::MAX => write!(f, "a whole number from 0 to 2^64 − 1"),
            max => write!(f, "a whole number from 0 to {max}"),
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        self.take(v, Unexpected::Unsigned(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        match u64::try_from(v) {
            Ok(u) => self.take(u, Unexpected::Signed(v)),
            Err(_) => Err(E::invalid_value(Unexpected::Signed(v), &self)),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        if v.fract() != 0.0 || v < 0.0 {
            return Err(E::invalid_value(Unexpected::Float(v), &self));
        }
        // JSON integers past u64 reach here as floats: out of every integer field's range.
        if v >= 18_446_744_073_709_551_616.0 || v > T::MAX as f64 {
            return Err(E::invalid_value(Unexpected::Other(&format!("number {v:e}")), &self));
        }
        if v > EXACT_FLOAT {
            return Err(E::custom(format!(
                "{v:e} is beyond 2^53, where a float no longer holds every whole number; write it as an integer"
            )));
        }
        // Whole and at most 2⁵³: the conversion is exact.
        self.take(v as u64, Unexpected::Float(v))
    }
}

impl<'de, T: Unsigned> Deserialize<'de> for Whole<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WholeVisitor(PhantomData)).map(Whole)
    }
}

/// An integer field: `#[serde(deserialize_with = "whole::int")]`.
pub fn int<'de, D: Deserializer<'de>, T: Unsigned>(d: D) -> Result<T, D::Error> {
    Whole::<T>::deserialize(d).map(|w| w.0)
}

/// An optional integer field (with `#[serde(default)]`): absent or null is None.
pub fn opt<'de, D: Deserializer<'de>, T: Unsigned>(d: D) -> Result<Option<T>, D::Error> {
    Option::<Whole<T>>::deserialize(d).map(|o| o.map(|w| w.0))
}

/// A list of integers.
pub fn list<'de, D: Deserializer<'de>, T: Unsigned>(d: D) -> Result<Vec<T>, D::Error> {
    Vec::<Whole<T>>::deserialize(d).map(|v| v.into_iter().map(|w| w.0).collect())
}

/// A whole number held in a JSON value (for fields that take a number or a word): what an
/// integer field of type u64 takes.
pub fn of_value(v: &serde_json::Value) -> Option<u64> {
    Whole::<u64>::deserialize(v).ok().map(|w| w.0)
}

/// Reads a kind-tagged section from a map, key by key, so that an error in a value names its
/// field (`memories.n`): `kind` into `$kind`, each listed field into an `Option` of its type
/// (read as that type: null is refused like any other wrong type), any other key kept aside.
/// A key given twice is refused. Gives `(kind, fields given, unknown keys, field values…)`.
macro_rules! read_section {
    ($map:ident, $kind:ty, { $($name:literal => $var:ident : $ty:ty),* $(,)? }) => {{
        use serde::de::Error as _;
        let mut kind: Option<$kind> = None;
        $(let mut $var: Option<$ty> = None;)*
        let mut unknown: Vec<String> = Vec::new();
        while let Some(key) = $map.next_key::<String>()? {
            match key.as_str() {
                "kind" => {
                    if kind.is_some() {
                        return Err(A::Error::duplicate_field("kind"));
                    }
                    kind = Some($map.next_value()?);
                }
                $($name => {
                    if $var.is_some() {
                        return Err(A::Error::duplicate_field($name));
                    }
                    $var = Some($map.next_value()?);
                })*
                _ => {
                    $map.next_value::<serde::de::IgnoredAny>()?;
                    unknown.push(key);
                }
            }
        }
        let kind = kind.ok_or_else(|| A::Error::missing_field("kind"))?;
        let given: Vec<&'static str> = [$(($name, $var.is_some())),*].into_iter().filter(|g| g.1).map(|g| g.0).collect();
        (kind, given, unknown, $($var),*)
    }};
}
pub(crate) use read_section;

/// Refuses any field a section was given (`given`, then `unknown` keys) that its kind does not
/// take (`allowed`), as serde refuses an unknown field, naming the kind and the fields it takes
/// (`Spec::from_json` moves the field's name into the error's path: [`unknown_field`]).
pub fn only<E: de::Error>(kind: &str, given: &[&str], unknown: &[String], allowed: &[&str]) -> Result<(), E> {
    let other = given.iter().copied().find(|g| !allowed.contains(g)).or(unknown.first().map(String::as_str));
    match other {
        None => Ok(()),
        Some(name) => {
            let takes: Vec<String> =
                std::iter::once("kind").chain(allowed.iter().copied()).map(|f| format!("`{f}`")).collect();
            Err(E::custom(format!(
                "unknown field `{name}` for kind \"{kind}\", expected {}",
                if allowed.is_empty() { "only `kind`".to_string() } else { format!("one of {}", takes.join(", ")) }
            )))
        }
    }
}

/// The field a [`only`] message refuses, if `message` is one.
pub fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    let (name, rest) = rest.split_once('`')?;
    rest.starts_with(" for kind \"").then_some(name)
}

/// A field the kind requires.
pub fn required<T, E: de::Error>(value: Option<T>, field: &'static str) -> Result<T, E> {
    value.ok_or_else(|| E::missing_field(field))
}

/// A list of whole numbers as read.
pub fn unwrap_list<T>(v: Vec<Whole<T>>) -> Vec<T> {
    v.into_iter().map(|w| w.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    struct T {
        #[serde(deserialize_with = "int")]
        a: u32,
        #[serde(default, deserialize_with = "opt")]
        b: Option<u64>,
        #[serde(default, deserialize_with = "list")]
        c: Vec<usize>,
    }

    fn read(s: &str) -> Result<T, String> {
        serde_json::from_str::<T>(s).map_err(|e| e.to_string())
    }

    #[test]
    fn whole_floats_are_integers_and_others_are_refused() {
        let t = read(r#"{"a": 64.0, "b": 1e3, "c": [1, 2.0, -0.0]}"#).unwrap();
        assert_eq!((t.a, t.b, t.c), (64, Some(1000), vec![1, 2, 0]));
        assert_eq!(read(r#"{"a": 3, "b": null}"#).unwrap().b, None);
        let e = read(r#"{"a": 64.5}"#).unwrap_err();
        assert!(e.contains("floating point `64.5`, expected a whole number from 0 to 4294967295"), "{e}");
        let e = read(r#"{"a": -1}"#).unwrap_err();
        assert!(e.contains("integer `-1`, expected a whole number"), "{e}");
        let e = read(r#"{"a": 4294967296}"#).unwrap_err();
        assert!(e.contains("integer `4294967296`, expected a whole number from 0 to 4294967295"), "{e}");
        let e = read(r#"{"a": 1, "b": 18446744073709551616}"#).unwrap_err();
        assert!(e.contains("number 1.8446744073709552e19, expected a whole number from 0 to 2^64 − 1"), "{e}");
        let e = read(r#"{"a": 1e10}"#).unwrap_err();
        assert!(e.contains("number 1e10, expected a whole number from 0 to 4294967295"), "{e}");
        let e = read(r#"{"a": 1, "b": 1e17}"#).unwrap_err();
        assert!(e.contains("beyond 2^53"), "{e}");
        assert_eq!(read(r#"{"a": 1, "b": 9007199254740992.0}"#).unwrap().b, Some(1 << 53));
        let e = read(r#"{"a": 1, "c": [1.5]}"#).unwrap_err();
        assert!(e.contains("floating point `1.5`, expected a whole number from 0 to 2^64 − 1"), "{e}");
        let e = read(r#"{"a": "3"}"#).unwrap_err();
        assert!(e.contains("invalid type: string \"3\", expected a whole number"), "{e}");
    }

    #[test]
    fn whole_numbers_in_values() {
        use serde_json::json;
        assert_eq!(of_value(&json!(3)), Some(3));
        assert_eq!(of_value(&json!(3.0)), Some(3));
        assert_eq!(of_value(&json!(3.5)), None);
        assert_eq!(of_value(&json!(-1)), None);
        assert_eq!(of_value(&json!("3")), None);
        assert_eq!(unknown_field("unknown field `seed` for kind \"hadamard\", expected …"), Some("seed"));
        assert_eq!(unknown_field("unknown field `seed`, expected one of `a`"), None);
    }
}
