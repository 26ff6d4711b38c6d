//! The `Stat` protobuf message (§4.7), encoded and decoded by hand.
//!
//! Field numbers: pod_name = 1 (string), average_concurrent_requests = 2,
//! average_proxied_concurrent_requests = 3, request_count = 4, proxied_request_count = 5,
//! process_uptime = 6 (doubles), timestamp = 7 (int64). Encoding follows proto3: fields
//! holding their default (empty string, `+0.0`, 0) are left out, in field order
//! otherwise. Decoding accepts any field order, keeps the last value of a repeated
//! field and skips unknown fields, as every protobuf decoder does.
//!
//! The timestamp is nanoseconds since the [`Timestamp`] epoch. Proto3 cannot tell 0
//! from absent, so `None` and the epoch itself both travel as 0 and decode as `None`.

use std::time::Duration;

use crate::autoscaler::metrics::Stat;
use crate::time::Timestamp;

/// Why bytes are not a `Stat` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The message ends inside a field.
    #[error("stat message truncated")]
    Truncated,
    /// A varint runs past ten bytes or 64 bits.
    #[error("stat message has an overlong varint")]
    VarintOverflow,
    /// A field key with field number 0 or a wire type protobuf does not define (or the
    /// deprecated groups).
    #[error("stat message has an invalid field key {0}")]
    InvalidKey(u64),
    /// A known field arrived with another wire type than its declared one.
    #[error("stat field {field} has wire type {wire_type}")]
    WrongWireType {
        /// The field number.
        field: u64,
        /// The wire type it arrived with.
        wire_type: u8,
    },
    /// `pod_name` is not UTF-8.
    #[error("stat pod_name is not UTF-8")]
    InvalidUtf8,
    /// `timestamp` is before the epoch.
    #[error("stat timestamp {0} is negative")]
    NegativeTimestamp(i64),
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// Encodes `stat` as a protobuf `Stat` message.
pub fn encode(stat: &Stat) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + stat.pod_name.len());
    if !stat.pod_name.is_empty() {
        put_key(&mut out, 1, LEN);
        put_varint(&mut out, stat.pod_name.len() as u64);
        out.extend_from_slice(stat.pod_name.as_bytes());
    }
    let doubles = [
        stat.average_concurrent_requests,
        stat.average_proxied_concurrent_requests,
        stat.request_count,
        stat.proxied_request_count,
        stat.process_uptime,
    ];
    for (field, value) in (2..).zip(doubles) {
        if value.to_bits() != 0 {
            put_key(&mut out, field, FIXED64);
            out.extend_from_slice(&value.to_le_bytes());
        }
    }
    let nanos = stat.timestamp.map_or(0, |t| {
        i64::try_from(t.since_epoch().as_nanos()).unwrap_or(i64::MAX)
    });
    if nanos != 0 {
        put_key(&mut out, 7, VARINT);
        put_varint(&mut out, nanos as u64);
    }
    out
}

/// Decodes a protobuf `Stat` message; malformed input is an error, never a panic.
pub fn decode(mut bytes: &[u8]) -> Result<Stat, DecodeError> {
    let mut stat = Stat::default();
    while !bytes.is_empty() {
        let key = take_varint(&mut bytes)?;
        let field = key >> 3;
        let wire_type = (key & 7) as u8;
        if field == 0 {
            return Err(DecodeError::InvalidKey(key));
        }
        let value = take_value(&mut bytes, wire_type).ok_or(DecodeError::InvalidKey(key))??;
        apply(&mut stat, field, value)?;
    }
    Ok(stat)
}

/// One field's value as it sits on the wire.
enum Value<'a> {
    Varint(u64),
    Fixed64([u8; 8]),
    Len(&'a [u8]),
    Fixed32,
}

impl Value<'_> {
    fn wire_type(&self) -> u8 {
        match self {
            Value::Varint(_) => VARINT,
            Value::Fixed64(_) => FIXED64,
            Value::Len(_) => LEN,
            Value::Fixed32 => FIXED32,
        }
    }
}

/// `None` for a wire type protobuf does not define (or the deprecated groups, 3 and 4).
fn take_value<'a>(bytes: &mut &'a [u8], wire_type: u8) -> Option<Result<Value<'a>, DecodeError>> {
    let value = match wire_type {
        VARINT => take_varint(bytes).map(Value::Varint),
        FIXED64 => take(bytes, 8).map(|b| {
            let mut fixed = [0; 8];
            fixed.copy_from_slice(b);
            Value::Fixed64(fixed)
        }),
        LEN => take_varint(bytes).and_then(|len| {
            let len = usize::try_from(len).map_err(|_| DecodeError::Truncated)?;
            take(bytes, len).map(Value::Len)
        }),
        FIXED32 => take(bytes, 4).map(|_| Value::Fixed32),
        _ => return None,
    };
    Some(value)
}

fn apply(stat: &mut Stat, field: u64, value: Value<'_>) -> Result<(), DecodeError> {
    let wrong = |value: &Value<'_>| DecodeError::WrongWireType {
        field,
        wire_type: value.wire_type(),
    };
    match (field, value) {
        (1, Value::Len(b)) => {
            stat.pod_name = std::str::from_utf8(b)
                .map_err(|_| DecodeError::InvalidUtf8)?
                .to_owned();
        }
        (2..=6, Value::Fixed64(b)) => *double_field(stat, field) = f64::from_le_bytes(b),
        (7, Value::Varint(v)) => {
            let nanos = v as i64;
            if nanos < 0 {
                return Err(DecodeError::NegativeTimestamp(nanos));
            }
            stat.timestamp =
                (nanos > 0).then(|| Timestamp::from_duration(Duration::from_nanos(nanos as u64)));
        }
        (1..=7, value) => return Err(wrong(&value)),
        _ => {}
    }
    Ok(())
}

fn double_field(stat: &mut Stat, field: u64) -> &mut f64 {
    match field {
        2 => &mut stat.average_concurrent_requests,
        3 => &mut stat.average_proxied_concurrent_requests,
        4 => &mut stat.request_count,
        5 => &mut stat.proxied_request_count,
        _ => &mut stat.process_uptime,
    }
}

fn put_key(out: &mut Vec<u8>, field: u64, wire_type: u8) {
    put_varint(out, (field << 3) | u64::from(wire_type));
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn take_varint(bytes: &mut &[u8]) -> Result<u64, DecodeError> {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().copied().enumerate().take(10) {
        // The tenth byte carries only the 64th bit.
        if i == 9 && byte > 1 {
            return Err(DecodeError::VarintOverflow);
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *bytes = &bytes[i + 1..];
            return Ok(value);
        }
    }
    if bytes.len() >= 10 {
        Err(DecodeError::VarintOverflow)
    } else {
        Err(DecodeError::Truncated)
    }
}

fn take<'a>(bytes: &mut &'a [u8], len: usize) -> Result<&'a [u8], DecodeError> {
    if bytes.len() < len {
        return Err(DecodeError::Truncated);
    }
    let (head, tail) = bytes.split_at(len);
    *bytes = tail;
    Ok(head)
}
