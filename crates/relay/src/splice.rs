//! Reading a few fields of an upstream JSON event without building a tree, and
//! writing the event back with only those fields changed: every byte the relay
//! does not change goes out as the provider wrote it.
//!
//! A streamed answer is dozens of ~200-byte events. Parsing each into a
//! `serde_json::Value` and writing it again was most of the relay's own CPU per
//! event (and reordered the provider's keys); here an event is scanned once by
//! serde into borrowed slices ([`RawValue`]), and the one text that may change
//! (a delta with a placeholder to restore) is spliced in at its byte range.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Where `inner`, a slice borrowed from `outer`, lies in it.
pub(crate) fn span(outer: &str, inner: &str) -> Option<Range<usize>> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    let end = start.checked_add(inner.len())?;
    (end <= outer.len()).then_some(start..end)
}

/// A JSON string's text: borrowed when it has no escapes, `None` if the value
/// is not a string.
pub(crate) fn string_of(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    if memchr::memchr(b'\\', inner.as_bytes()).is_none() {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(text).ok().map(Cow::Owned)
}

/// The value is a JSON object (not `null`, not another type).
pub(crate) fn is_object(raw: &RawValue) -> bool {
    raw.get().starts_with('{')
}

/// The top-level members of a JSON object, in order, each value as written.
pub(crate) struct Members<'a> {
    pub items: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> Members<'a> {
    /// `None` unless `text` is one JSON object.
    pub(crate) fn parse(text: &'a str) -> Option<Members<'a>> {
        serde_json::from_str(text).ok()
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.items
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| *value)
    }

    /// Member `key` when it is a whole number (anything else counts as absent,
    /// as a provider's malformed count does).
    pub(crate) fn number(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(|raw| raw.get().parse().ok())
    }

    /// The bytes to cut from `text` to remove member `key` and the comma that
    /// separates it from its neighbour.
    pub(crate) fn removal(&self, text: &str, key: &str) -> Option<Range<usize>> {
        let at = self.items.iter().position(|(name, _)| name == key)?;
        let value = span(text, self.items[at].1.get())?;
        if at > 0 {
            // From the end of the previous value: `,"key":value`.
            let previous = span(text, self.items[at - 1].1.get())?;
            return Some(previous.end..value.end);
        }
        let open = text.find('{')? + 1;
        if self.items.len() == 1 {
            return Some(open..value.end);
        }
        // The first of several: `"key":value,` up to the next key.
        let comma = value.end + text[value.end..].find(',')?;
        Some(open..comma + 1)
    }
}

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut items = Vec::with_capacity(8);
                while let Some(Key(key)) = map.next_key()? {
                    items.push((key, map.next_value::<&RawValue>()?));
                }
                Ok(Members { items })
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

/// An object key, borrowed unless it had escapes.
pub(crate) struct Key<'a>(pub Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// The first element of a JSON array (the rest are checked and skipped).
pub(crate) struct First<T>(pub Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for First<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FirstVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for FirstVisitor<T> {
            type Value = First<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<First<T>, A::Error> {
                let first = seq.next_element()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(First(first))
            }
        }
        deserializer.deserialize_seq(FirstVisitor(std::marker::PhantomData))
    }
}

/// A JSON text with some byte ranges replaced, written out once.
pub(crate) struct Splice<'a> {
    source: &'a str,
    /// Non-overlapping ranges of `source` and what replaces each.
    edits: Vec<(Range<usize>, Cow<'a, str>)>,
}

impl<'a> Splice<'a> {
    pub(crate) fn new(source: &'a str) -> Splice<'a> {
        Splice {
            source,
            edits: Vec::new(),
        }
    }

    pub(crate) fn replace(&mut self, range: Range<usize>, with: impl Into<Cow<'a, str>>) {
        self.edits.push((range, with.into()));
    }

    /// Replaces the string value at `range` with `text`, escaped.
    pub(crate) fn replace_string(&mut self, range: Range<usize>, text: &str) {
        // A string always serialises.
        let quoted = serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned());
        self.replace(range, quoted);
    }

    /// The edited text as one SSE `data` frame (an event name before it if
    /// given). A text with line breaks becomes one `data:` line per line, which a
    /// client joins back with `\n`.
    pub(crate) fn frame(mut self, event: Option<&str>) -> Bytes {
        self.edits.sort_by_key(|(range, _)| range.start);
        let extra: usize = self.edits.iter().map(|(_, with)| with.len()).sum();
        let mut frame = BytesMut::with_capacity(self.source.len() + extra + 32);
        if let Some(event) = event {
            frame.put_slice(b"event: ");
            frame.put_slice(event.as_bytes());
            frame.put_u8(b'\n');
        }
        frame.put_slice(b"data: ");
        let mut at = 0;
        for (range, with) in &self.edits {
            if range.start < at || range.end > self.source.len() {
                continue;
            }
            put_data(&mut frame, &self.source[at..range.start]);
            put_data(&mut frame, with);
            at = range.end;
        }
        put_data(&mut frame, &self.source[at..]);
        frame.put_slice(b"\n\n");
        frame.freeze()
    }
}

fn put_data(frame: &mut BytesMut, text: &str) {
    let mut lines = text.split('\n');
    if let Some(first) = lines.next() {
        frame.put_slice(first.as_bytes());
    }
    for line in lines {
        frame.put_slice(b"\ndata: ");
        frame.put_slice(line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn removed(text: &str, key: &str) -> String {
        let members = Members::parse(text).unwrap();
        let range = members.removal(text, key).unwrap();
        format!("{}{}", &text[..range.start], &text[range.end..])
    }

    #[test]
    fn a_member_is_removed_with_its_comma_wherever_it_stands() {
        assert_eq!(
            removed(r#"{"a":1,"usage":null,"b":2}"#, "usage"),
            r#"{"a":1,"b":2}"#
        );
        assert_eq!(removed(r#"{"usage":null, "b":2}"#, "usage"), r#"{ "b":2}"#);
        assert_eq!(
            removed(r#"{"a":1,"usage":{"x":[1]}}"#, "usage"),
            r#"{"a":1}"#
        );
        assert_eq!(removed(r#"{ "usage" : null }"#, "usage"), r#"{ }"#);
        for text in [
            r#"{"a":1,"usage":null,"b":2}"#,
            r#"{"usage":null, "b":2}"#,
            r#"{ "usage" : null }"#,
        ] {
            let left: serde_json::Value = serde_json::from_str(&removed(text, "usage")).unwrap();
            assert!(left.get("usage").is_none(), "{text}");
        }
    }

    #[test]
    fn strings_are_read_borrowed_or_unescaped() {
        let raw: &RawValue = serde_json::from_str(r#""plain""#).unwrap();
        assert!(matches!(string_of(raw), Some(Cow::Borrowed("plain"))));
        let raw: &RawValue = serde_json::from_str(r#""a\"b\u00e9""#).unwrap();
        assert_eq!(string_of(raw).unwrap(), "a\"bé");
        let raw: &RawValue = serde_json::from_str("null").unwrap();
        assert!(string_of(raw).is_none());
    }

    #[test]
    fn a_splice_keeps_every_other_byte_and_frames_line_breaks() {
        let text = "{\"b\": 1,\n \"content\":\"x\"}";
        let members = Members::parse(text).unwrap();
        let content = span(text, members.get("content").unwrap().get()).unwrap();
        let mut splice = Splice::new(text);
        splice.replace_string(content, "new \"text\"");
        let frame = splice.frame(None);
        assert_eq!(
            &frame[..],
            b"data: {\"b\": 1,\ndata:  \"content\":\"new \\\"text\\\"\"}\n\n"
        );
    }

    #[test]
    fn not_an_object_is_none() {
        assert!(Members::parse("[1]").is_none());
        assert!(Members::parse("{\"a\":").is_none());
        assert!(Members::parse("{} trailing").is_none());
    }
}
