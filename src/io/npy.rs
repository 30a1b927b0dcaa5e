//! NPY (NumPy `.npy` format 1.0/2.0/3.0) reading and writing, hand-written.
//!
//! Supported dtypes: `u1` (u8), `i1`, `i2`, `i4`, `i8` (signed ints, widened to `i64`),
//! `u2`, `u4`, `u8` (unsigned ints, widened to `i64` when they fit), `f4`, `f8`; little-endian
//! (or byte-order `|` for one-byte types), C order. Fortran-order arrays, big-endian data and
//! other dtypes are rejected with an error naming the file and the dtype. Files are written
//! atomically in format 1.0 (2.0 if the header needs it).

use crate::error::{Error, Result};
use std::path::Path;

/// Element payload of an NPY array.
#[derive(Clone, Debug, PartialEq)]
pub enum NpyData {
    /// `u1`.
    U8(Vec<u8>),
    /// Any integer dtype, widened.
    I64(Vec<i64>),
    /// `f4`.
    F32(Vec<f32>),
    /// `f8`.
    F64(Vec<f64>),
}

impl NpyData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            NpyData::U8(v) => v.len(),
            NpyData::I64(v) => v.len(),
            NpyData::F32(v) => v.len(),
            NpyData::F64(v) => v.len(),
        }
    }
    /// `true` if there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The dtype as NumPy spells it in the file we would write.
    pub fn descr(&self) -> &'static str {
        match self {
            NpyData::U8(_) => "|u1",
            NpyData::I64(_) => "<i8",
            NpyData::F32(_) => "<f4",
            NpyData::F64(_) => "<f8",
        }
    }
}

/// An array read from (or to be written to) an NPY file: C-order data plus shape.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    /// Shape (empty for a scalar).
    pub shape: Vec<usize>,
    /// Elements in C order.
    pub data: NpyData,
}

/// Element types that can be written with [`write_npy`].
pub trait NpyElement: Copy {
    /// NumPy `descr` string.
    const DESCR: &'static str;
    /// Appends the little-endian bytes of `self`.
    fn put(self, out: &mut Vec<u8>);
}

macro_rules! npy_elem {
    ($t:ty, $d:literal) => {
        impl NpyElement for $t {
            const DESCR: &'static str = $d;
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    };
}
npy_elem!(u8, "|u1");
npy_elem!(i64, "<i8");
npy_elem!(i32, "<i4");
npy_elem!(f32, "<f4");
npy_elem!(f64, "<f8");

const MAGIC: &[u8] = b"\x93NUMPY";

/// Writes `data` with `shape` to `path` (atomically).
///
/// # Errors
/// [`Error::Shape`] if `shape`'s product is not `data.len()`; [`Error::Io`] on write failure.
pub fn write_npy<T: NpyElement>(path: &Path, shape: &[usize], data: &[T]) -> Result<()> {
    let n: usize = shape.iter().product();
    if n != data.len() {
        return Err(Error::shape("write_npy", format!("shape {shape:?} holds {n} elements, data has {}", data.len())));
    }
    let shape_str = match shape.len() {
        0 => "()".to_string(),
        1 => format!("({},)", shape[0]),
        _ => format!("({})", shape.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let dict = format!("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", T::DESCR, shape_str);
    // Pad so that the data starts at a multiple of 64 bytes; header ends with '\n'.
    let (version, len_bytes) = if dict.len() + 1 + 10 < 65536 { (1u8, 2usize) } else { (2u8, 4usize) };
    let prefix = MAGIC.len() + 2 + len_bytes;
    let total = (prefix + dict.len() + 1).div_ceil(64) * 64;
    let hlen = total - prefix;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    out.push(version);
    out.push(0);
    if len_bytes == 2 {
        out.extend_from_slice(&(hlen as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(hlen as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    // Stream the data in chunks: no second copy of a multi-GB array.
    super::write_atomic_with(path, |w| {
        w.write_all(&out)?;
        let mut buf = Vec::with_capacity(1 << 16);
        for chunk in data.chunks(1 << 13) {
            buf.clear();
            chunk.iter().for_each(|&v| v.put(&mut buf));
            w.write_all(&buf)?;
        }
        Ok(())
    })
}

/// Reads an NPY file.
///
/// # Errors
/// [`Error::Io`] if it cannot be read; [`Error::Format`] naming the file for a bad magic
/// string, an unparsable header, an unsupported dtype or Fortran order, or a data section whose
/// size disagrees with the header (truncated or trailing bytes).
pub fn read_npy(path: &Path) -> Result<NpyArray> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_npy(&bytes).map_err(|reason| Error::format(path, reason))
}

/// Parses NPY bytes (the body of [`read_npy`]); the error is a message without the path.
pub fn parse_npy(bytes: &[u8]) -> std::result::Result<NpyArray, String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not an NPY file (missing the \\x93NUMPY magic string)".into());
    }
    let major = bytes[6];
    let (hlen, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err("truncated NPY header".into());
            }
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        v => return Err(format!("unsupported NPY format version {v}")),
    };
    let end = start.checked_add(hlen).filter(|&e| e <= bytes.len()).ok_or("truncated NPY header")?;
    let header = std::str::from_utf8(&bytes[start..end]).map_err(|_| "NPY header is not text".to_string())?;
    let dict = header.trim_end_matches([' ', '\n', '\0']);
    if !dict.trim_start().starts_with('{') || !dict.ends_with('}') {
        return Err("NPY header is not a Python dict literal ({...})".into());
    }
    let descr = dict_value(header, "descr").ok_or("NPY header has no 'descr'")?;
    let descr = descr.trim().trim_matches(|c| c == '\'' || c == '"');
    let fortran = dict_value(header, "fortran_order").ok_or("NPY header has no 'fortran_order'")?;
    match fortran.trim() {
        "False" => {}
        "True" => return Err("Fortran-order NPY arrays are not supported (save with np.ascontiguousarray)".into()),
        other => return Err(format!("NPY header: 'fortran_order' is '{other}', expected True or False")),
    }
    let shape_txt = dict_value(header, "shape").ok_or("NPY header has no 'shape'")?;
    let shape = parse_shape(shape_txt)?;
    let count = shape.iter().try_fold(1usize, |a, &s| a.checked_mul(s)).ok_or("NPY shape overflows")?;
    let body = &bytes[end..];
    let (kind, size) = parse_descr(descr)?;
    let need = count.checked_mul(size).ok_or("NPY shape overflows")?;
    if body.len() < need {
        return Err(format!(
            "truncated: header promises {count} elements of {descr} ({need} bytes) but the file holds {} bytes of data",
            body.len()
        ));
    }
    if body.len() > need {
        return Err(format!("{} unexpected bytes after the {need} bytes of data", body.len() - need));
    }
    let data = match (kind, size) {
        ('u', 1) => NpyData::U8(body.to_vec()),
        ('i', 1) => NpyData::I64(body.iter().map(|&b| b as i8 as i64).collect()),
        ('i', 2) => NpyData::I64(body.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]]) as i64).collect()),
        ('i', 4) => {
            NpyData::I64(body.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap()) as i64).collect())
        }
        ('i', 8) => NpyData::I64(body.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()),
        ('u', 2) => NpyData::I64(body.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]) as i64).collect()),
        ('u', 4) => {
            NpyData::I64(body.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap()) as i64).collect())
        }
        ('u', 8) => {
            let mut v = Vec::with_capacity(count);
            for c in body.chunks_exact(8) {
                let x = u64::from_le_bytes(c.try_into().unwrap());
                v.push(i64::try_from(x).map_err(|_| format!("uint64 value {x} does not fit in int64"))?);
            }
            NpyData::I64(v)
        }
        ('f', 4) => NpyData::F32(body.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()),
        ('f', 8) => NpyData::F64(body.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect()),
        _ => unreachable!("parse_descr only returns supported kinds"),
    };
    Ok(NpyArray { shape, data })
}

fn parse_descr(descr: &str) -> std::result::Result<(char, usize), String> {
    let unsupported = || {
        format!("unsupported NPY dtype '{descr}' (supported: u1, i1, i2, i4, i8, u2, u4, u8, f4, f8, little-endian)")
    };
    let mut chars = descr.chars();
    let order = chars.next().ok_or_else(unsupported)?;
    let kind = chars.next().ok_or_else(unsupported)?;
    let size: usize = chars.as_str().parse().map_err(|_| unsupported())?;
    let ok_kind = matches!((kind, size), ('u', 1 | 2 | 4 | 8) | ('i', 1 | 2 | 4 | 8) | ('f', 4 | 8));
    if !ok_kind {
        return Err(unsupported());
    }
    match order {
        '<' => Ok((kind, size)),
        '|' if size == 1 => Ok((kind, size)),
        '=' if cfg!(target_endian = "little") => Ok((kind, size)),
        '>' if size == 1 => Ok((kind, size)),
        _ => Err(unsupported()),
    }
}

/// Finds the raw text of `key`'s value in a Python dict literal (values used here contain no
/// nested dicts; tuples are returned with their parentheses).
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat1 = format!("'{key}'");
    let pat2 = format!("\"{key}\"");
    let pos = header.find(&pat1).map(|p| p + pat1.len()).or_else(|| header.find(&pat2).map(|p| p + pat2.len()))?;
    let rest = header[pos..].trim_start().strip_prefix(':')?.trim_start();
    if rest.starts_with('(') {
        let close = rest.find(')')?;
        Some(&rest[..=close])
    } else {
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        Some(&rest[..end])
    }
}

fn parse_shape(txt: &str) -> std::result::Result<Vec<usize>, String> {
    let inner =
        txt.trim().strip_prefix('(').and_then(|t| t.strip_suffix(')')).ok_or_else(|| format!("bad NPY shape {txt}"))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>().map_err(|_| format!("bad NPY shape {txt}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_each_dtype() {
        let dir = std::env::temp_dir().join(format!("detaux-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.npy");
        write_npy(&p, &[2, 3], &[1u8, 2, 3, 4, 5, 6]).unwrap();
        assert_eq!(read_npy(&p).unwrap(), NpyArray { shape: vec![2, 3], data: NpyData::U8(vec![1, 2, 3, 4, 5, 6]) });
        write_npy(&p, &[3], &[-1i64, 0, 7]).unwrap();
        assert_eq!(read_npy(&p).unwrap().data, NpyData::I64(vec![-1, 0, 7]));
        write_npy(&p, &[1, 2], &[0.5f32, -2.0]).unwrap();
        assert_eq!(read_npy(&p).unwrap().data, NpyData::F32(vec![0.5, -2.0]));
        write_npy(&p, &[], &[3.25f64]).unwrap();
        assert_eq!(read_npy(&p).unwrap(), NpyArray { shape: vec![], data: NpyData::F64(vec![3.25]) });
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rejects_bad_files() {
        assert!(parse_npy(b"hello world").unwrap_err().contains("magic"));
        let mut good = Vec::new();
        good.extend_from_slice(MAGIC);
        good.extend_from_slice(&[1, 0]);
        let dict = "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }\n";
        good.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        good.extend_from_slice(dict.as_bytes());
        assert!(parse_npy(&good).unwrap_err().contains("unsupported NPY dtype"));
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }\n";
        let mut t = MAGIC.to_vec();
        t.extend_from_slice(&[1, 0]);
        t.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        t.extend_from_slice(dict.as_bytes());
        t.extend_from_slice(&[0u8; 12]);
        assert!(parse_npy(&t).unwrap_err().contains("truncated"));
    }
}
