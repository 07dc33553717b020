//! The `.npy` header: magic, version, and the Python-literal dictionary that follows.
//!
//! Format reference: numpy/lib/format.py. Version 1.0 has a 2-byte header length,
//! 2.0 and 3.0 a 4-byte one (3.0 only allows UTF-8 in the dictionary, which changes
//! nothing for the keys swan reads). Data starts at a multiple of 64 bytes in files
//! numpy writes; swan writes the same so that `f32` rows are aligned in a mapping.

use super::DType;

/// The six magic bytes every `.npy` file starts with.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Alignment of the data section that swan writes (numpy's `ARRAY_ALIGN`).
pub const ALIGN: usize = 64;

/// What a header says about the array that follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Element type.
    pub dtype: DType,
    /// Array shape; C order is the only order swan accepts.
    pub shape: Vec<usize>,
    /// Byte offset of the first element.
    pub data_offset: usize,
}

impl Header {
    /// Number of elements the shape holds, or `None` on overflow.
    pub fn element_count(&self) -> Option<usize> {
        self.shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
    }

    /// Bytes the data section must have, or `None` on overflow.
    pub fn data_len(&self) -> Option<usize> {
        self.element_count()?.checked_mul(self.dtype.size())
    }
}

/// Parse the header at the start of `bytes`. The error is a sentence for the user.
pub fn parse(bytes: &[u8]) -> Result<Header, String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("missing the \\x93NUMPY magic: not a .npy file".into());
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (len_size, dict_len) = match major {
        1 => (2, u16::from_le_bytes([bytes[8], bytes[9]]) as usize),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err("file ends inside the header".into());
            }
            (4, u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize)
        }
        _ => return Err(format!("format version {major}.{minor} is not supported (1.0, 2.0, 3.0 are)")),
    };
    let dict_start = 8 + len_size;
    let data_offset = dict_start + dict_len;
    let dict = bytes
        .get(dict_start..data_offset)
        .ok_or_else(|| format!("file ends inside the header ({} of {data_offset} header bytes present)", bytes.len()))?;
    let dict = std::str::from_utf8(dict).map_err(|_| "header dictionary is not UTF-8".to_string())?;
    let fields = parse_dict(dict)?;

    let mut descr = None;
    let mut fortran = None;
    let mut shape = None;
    for (key, value) in fields {
        match (key.as_str(), value) {
            ("descr", Literal::Str(s)) => descr = Some(s),
            ("fortran_order", Literal::Bool(b)) => fortran = Some(b),
            ("shape", Literal::Tuple(t)) => shape = Some(t),
            (k @ ("descr" | "fortran_order" | "shape"), v) => return Err(format!("header key '{k}' has an unexpected value {v:?}")),
            (k, _) => return Err(format!("unexpected header key '{k}'")),
        }
    }
    let descr = descr.ok_or("header lacks 'descr'")?;
    let dtype = DType::from_descr(&descr)?;
    if fortran.ok_or("header lacks 'fortran_order'")? {
        return Err("array is in Fortran order; swan needs C order (save np.ascontiguousarray(arr))".into());
    }
    let shape = shape.ok_or("header lacks 'shape'")?;
    let header = Header { dtype, shape, data_offset };
    header.data_len().ok_or("shape overflows the address space")?;
    // A row's width alone must fit too: a shape like (0, 2^40, 2^40) holds no elements but
    // its rows would be 2^80 wide.
    header.shape.iter().skip(1).try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or("row width overflows the address space")?;
    Ok(header)
}

/// Serialise a header for `dtype` and `shape`, padded so the data starts at a multiple of
/// [`ALIGN`]. Uses version 1.0 unless the dictionary needs more than 65,535 bytes.
pub fn encode(dtype: DType, shape: &[usize]) -> Vec<u8> {
    let shape_text = match shape {
        [one] => format!("({one},)"),
        _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let dict = format!("{{'descr': '{}', 'fortran_order': False, 'shape': {shape_text}, }}", dtype.descr());
    for (major, len_size) in [(1u8, 2usize), (2, 4)] {
        let unpadded = 8 + len_size + dict.len() + 1; // +1 for the closing newline
        let total = unpadded.div_ceil(ALIGN) * ALIGN;
        let dict_len = total - 8 - len_size;
        if major == 1 && dict_len > u16::MAX as usize {
            continue;
        }
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[major, 0]);
        if len_size == 2 {
            out.extend_from_slice(&(dict_len as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(dict_len as u32).to_le_bytes());
        }
        out.extend_from_slice(dict.as_bytes());
        out.resize(total - 1, b' ');
        out.push(b'\n');
        return out;
    }
    unreachable!("a version 2.0 header holds any dictionary swan writes")
}

#[derive(Debug)]
enum Literal {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
}

/// Parse the restricted Python literal numpy writes: `{'key': value, ...}` with string,
/// boolean and integer-tuple values. Trailing commas and any white space are allowed.
fn parse_dict(text: &str) -> Result<Vec<(String, Literal)>, String> {
    let mut p = Parser { s: text.as_bytes(), i: 0 };
    p.expect(b'{')?;
    let mut out = Vec::new();
    loop {
        p.skip_ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.expect(b':')?;
        let value = p.value()?;
        out.push((key, value));
        p.skip_ws();
        if !p.eat(b',') {
            p.expect(b'}')?;
            break;
        }
    }
    p.skip_ws();
    if p.i != p.s.len() {
        return Err("unexpected text after the header dictionary".into());
    }
    Ok(out)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("malformed header dictionary: expected '{}' at byte {}", c as char, self.i))
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.skip_ws();
        let quote = match self.s.get(self.i) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => return Err(format!("malformed header dictionary: expected a string at byte {}", self.i)),
        };
        let start = self.i + 1;
        let len = self.s[start..].iter().position(|&c| c == quote).ok_or("malformed header dictionary: unterminated string")?;
        self.i = start + len + 1;
        Ok(String::from_utf8_lossy(&self.s[start..start + len]).into_owned())
    }

    fn value(&mut self) -> Result<Literal, String> {
        self.skip_ws();
        match self.s.get(self.i) {
            Some(b'\'' | b'"') => Ok(Literal::Str(self.string()?)),
            Some(b'(') => {
                self.i += 1;
                let mut dims = Vec::new();
                loop {
                    if self.eat(b')') {
                        break;
                    }
                    dims.push(self.integer()?);
                    if !self.eat(b',') {
                        self.expect(b')')?;
                        break;
                    }
                }
                Ok(Literal::Tuple(dims))
            }
            _ if self.s[self.i..].starts_with(b"True") => {
                self.i += 4;
                Ok(Literal::Bool(true))
            }
            _ if self.s[self.i..].starts_with(b"False") => {
                self.i += 5;
                Ok(Literal::Bool(false))
            }
            _ => Err(format!("malformed header dictionary: unexpected value at byte {}", self.i)),
        }
    }

    fn integer(&mut self) -> Result<usize, String> {
        self.skip_ws();
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
            self.i += 1;
        }
        // numpy 1.x wrote `3L` for longs under Python 2; accept it for old files.
        let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
        if self.s.get(self.i) == Some(&b'L') {
            self.i += 1;
        }
        digits.parse().map_err(|_| format!("malformed shape in header at byte {start}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_parse_round_trips_and_aligns() {
        for shape in [vec![0, 512], vec![7], vec![3, 4, 5], vec![]] {
            for dtype in [DType::F32, DType::F16, DType::I64] {
                let bytes = encode(dtype, &shape);
                assert_eq!(bytes.len() % ALIGN, 0);
                assert_eq!(*bytes.last().unwrap(), b'\n');
                let h = parse(&bytes).unwrap();
                assert_eq!(h, Header { dtype, shape: shape.clone(), data_offset: bytes.len() });
            }
        }
    }

    #[test]
    fn parses_numpy_spellings() {
        let dict = b"{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }";
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[1, 0]);
        bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        bytes.extend_from_slice(dict);
        assert_eq!(parse(&bytes).unwrap().shape, vec![2, 3]);
    }

    #[test]
    fn rejects_what_swan_cannot_read() {
        let fortran = b"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }";
        let big = b"{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }";
        let obj = b"{'descr': '|O', 'fortran_order': False, 'shape': (2, 3), }";
        // No elements, but rows 2^80 values wide: the row width must not wrap.
        let wide = b"{'descr': '<f4', 'fortran_order': False, 'shape': (0, 1099511627776, 1099511627776), }";
        let huge = b"{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 2), }";
        for (dict, needle) in [
            (&fortran[..], "Fortran"),
            (&big[..], "big-endian"),
            (&obj[..], "unsupported dtype"),
            (&wide[..], "row width overflows"),
            (&huge[..], "shape overflows"),
        ] {
            let mut bytes = MAGIC.to_vec();
            bytes.extend_from_slice(&[1, 0]);
            bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
            bytes.extend_from_slice(dict);
            let err = parse(&bytes).unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
        assert!(parse(b"PK\x03\x04 not npy").unwrap_err().contains("magic"));
        let mut short = encode(DType::F32, &[2, 2]);
        short.truncate(20);
        assert!(parse(&short).unwrap_err().contains("ends inside the header"));
    }
}
