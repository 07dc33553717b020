//! Element types swan reads and writes in `.npy` files.

use serde::{Deserialize, Serialize};

/// An element type of a `.npy` array. Embeddings are `F32` or `F16`; the others are read
/// for similarity matrices (`F64`) and reference arrays (token ids are `I64`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// IEEE half precision, `<f2`.
    F16,
    /// IEEE single precision, `<f4`.
    F32,
    /// IEEE double precision, `<f8`.
    F64,
    /// 32-bit signed integer, `<i4`.
    I32,
    /// 64-bit signed integer, `<i8`.
    I64,
    /// Unsigned byte, `|u1`.
    U8,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::U8 => 1,
            DType::F16 => 2,
            DType::F32 | DType::I32 => 4,
            DType::F64 | DType::I64 => 8,
        }
    }

    /// The NumPy `descr` string swan writes (always little-endian).
    pub fn descr(self) -> &'static str {
        match self {
            DType::F16 => "<f2",
            DType::F32 => "<f4",
            DType::F64 => "<f8",
            DType::I32 => "<i4",
            DType::I64 => "<i8",
            DType::U8 => "|u1",
        }
    }

    /// Parse a NumPy `descr`. `Err` carries a message saying why it is not supported.
    pub fn from_descr(descr: &str) -> Result<DType, String> {
        // The byte-order character is ASCII; a descr starting with any other character
        // (the header is decoded lossily, so anything can be there) has none.
        let (order, code) = descr.split_at_checked(descr.len().min(1)).unwrap_or(("", descr));
        let dtype = match code {
            "f2" => DType::F16,
            "f4" => DType::F32,
            "f8" => DType::F64,
            "i4" => DType::I32,
            "i8" => DType::I64,
            "u1" | "b1" if order == "|" => DType::U8,
            _ => return Err(format!("unsupported dtype '{descr}' (swan reads f2, f4, f8, i4, i8, u1)")),
        };
        match order {
            "<" | "|" => Ok(dtype),
            // A native-order file from a little-endian machine is what swan writes anyway.
            "=" if cfg!(target_endian = "little") => Ok(dtype),
            ">" => Err(format!("big-endian dtype '{descr}' is not supported; convert with arr.astype('<{code}')")),
            _ => Err(format!("unsupported dtype '{descr}'")),
        }
    }

    /// The name used on the command line and in manifests (`f32`, `f16`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::F16 => "f16",
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::U8 => "u8",
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for DType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "f16" => DType::F16,
            "f32" => DType::F32,
            "f64" => DType::F64,
            "i32" => DType::I32,
            "i64" => DType::I64,
            "u8" => DType::U8,
            _ => return Err(format!("unknown dtype '{s}' (expected f16, f32, f64, i32, i64 or u8)")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::DType;

    #[test]
    fn descr_starting_with_a_multibyte_character_is_refused_not_a_panic() {
        // Found by fuzzing (fuzz/regressions/npy/unicode_descr.npy): split_at(1) panicked.
        let err = DType::from_descr("\u{e9}f4").unwrap_err();
        assert!(err.contains("unsupported dtype '\u{e9}f4'"), "{err}");
        assert_eq!(DType::from_descr("<f4"), Ok(DType::F32));
        assert!(DType::from_descr("").is_err());
    }
}
