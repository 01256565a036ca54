//! Opening one input: a file or stdin (`-`), read as text; gzip-compressed inputs (rotated
//! logs, `logrotate`'s `compress`) are detected by their first bytes, not their name, and
//! decompressed while streaming.

use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

/// The first two bytes of every gzip member (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// An opened input.
pub struct Input {
    /// The text (decompressed if it was gzip).
    pub reader: Box<dyn Read + Send>,
    /// Its name in messages (`<stdin>` for `-`).
    pub name: String,
    /// Its size when known and meaningful for progress (not for gzip).
    pub size: Option<u64>,
}

/// Opens `path` (`-`: stdin) and looks at its first bytes to decide whether it is gzip.
pub fn open(path: &Path) -> io::Result<Input> {
    let (mut raw, name, size): (Box<dyn Read + Send>, String, Option<u64>) =
        if path == Path::new("-") {
            (Box::new(io::stdin()), "<stdin>".to_string(), None)
        } else {
            let file = File::open(path)?;
            let size = file
                .metadata()
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len());
            (Box::new(file), path.display().to_string(), size)
        };
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < head.len() {
        match raw.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let whole = Cursor::new(head[..got].to_vec()).chain(raw);
    if head[..got] == GZIP_MAGIC {
        let reader = Gzip(MultiGzDecoder::new(io::BufReader::with_capacity(
            64 * 1024,
            whole,
        )));
        Ok(Input {
            reader: Box::new(reader),
            name,
            size: None,
        })
    } else {
        Ok(Input {
            reader: Box::new(whole),
            name,
            size,
        })
    }
}

/// A gzip decoder whose errors say that the compressed data is at fault.
struct Gzip<R>(MultiGzDecoder<R>);

impl<R: io::BufRead> Read for Gzip<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            let what = if e.kind() == io::ErrorKind::UnexpectedEof {
                "gzip data is truncated".to_string()
            } else {
                format!("bad gzip data: {e}")
            };
            io::Error::new(e.kind(), what)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn read_all(path: &Path) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        open(path)?.reader.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn gzip_is_detected_by_content_not_name() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"{\"a\":1}\nline two\n".repeat(1000);
        let plain_gz = dir.path().join("plain.gz");
        std::fs::write(&plain_gz, &text).unwrap();
        let packed = dir.path().join("packed.log");
        // Two members, as `cat a.gz b.gz` gives.
        std::fs::write(&packed, [gzip(&text[..7]), gzip(&text[7..])].concat()).unwrap();
        assert_eq!(read_all(&plain_gz).unwrap(), text);
        assert_eq!(read_all(&packed).unwrap(), text);
        let one = dir.path().join("one");
        std::fs::write(&one, b"x").unwrap();
        assert_eq!(read_all(&one).unwrap(), b"x");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(read_all(&empty).unwrap(), b"");
    }

    #[test]
    fn truncated_or_corrupt_gzip_is_an_error_that_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let packed = gzip(&b"some log text\n".repeat(5000));
        let cut = dir.path().join("cut.gz");
        std::fs::write(&cut, &packed[..packed.len() / 2]).unwrap();
        let e = read_all(&cut).unwrap_err();
        assert!(e.to_string().contains("gzip data is truncated"), "{e}");
        let mut bad = packed.clone();
        bad[20] ^= 0xff;
        bad[21] ^= 0xff;
        let corrupt = dir.path().join("corrupt.gz");
        std::fs::write(&corrupt, &bad).unwrap();
        let e = read_all(&corrupt).unwrap_err();
        assert!(e.to_string().contains("gzip"), "{e}");
    }
}
