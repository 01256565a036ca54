//! Validating and skipping the values of keys the parser does not know.

use super::{Literal, MAX_DEPTH, ParseError, ParseErrorKind, Parser};

impl Parser<'_> {
    /// Skips any JSON value (of a key this parser does not know), validating it.
    pub(super) fn skip_value(&mut self) -> Result<(), ParseError> {
        // Bit `i` of `objects` is set when the container at depth `i + 1` is an object.
        let mut objects: u64 = 0;
        let mut depth: u32 = 0;
        loop {
            // A value starts here.
            self.skip_ws();
            match self.peek() {
                None => return self.err(ParseErrorKind::Truncated),
                Some(b'"') => {
                    self.string()?;
                }
                Some(open @ (b'{' | b'[')) => {
                    if depth == MAX_DEPTH {
                        return self.err(ParseErrorKind::TooDeep);
                    }
                    self.pos += 1;
                    let is_object = open == b'{';
                    if is_object {
                        objects |= 1 << depth;
                    } else {
                        objects &= !(1 << depth);
                    }
                    depth += 1;
                    self.skip_ws();
                    let close = if is_object { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.pos += 1;
                        depth -= 1;
                    } else {
                        if is_object {
                            self.object_key()?;
                        }
                        continue;
                    }
                }
                Some(b'-' | b'0'..=b'9') => self.skip_number()?,
                Some(_) => {
                    if self.literal()? == Literal::Other {
                        return self.err(ParseErrorKind::Syntax);
                    }
                }
            }
            // A value ended: close containers until one has a next element.
            loop {
                if depth == 0 {
                    return Ok(());
                }
                self.skip_ws();
                let is_object = objects >> (depth - 1) & 1 == 1;
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if is_object {
                            self.object_key()?;
                        }
                        break;
                    }
                    Some(b'}') if is_object => {
                        self.pos += 1;
                        depth -= 1;
                    }
                    Some(b']') if !is_object => {
                        self.pos += 1;
                        depth -= 1;
                    }
                    None => return self.err(ParseErrorKind::Truncated),
                    Some(_) => return self.err(ParseErrorKind::Syntax),
                }
            }
        }
    }

    /// Skips `"key":` inside a skipped object.
    pub(super) fn object_key(&mut self) -> Result<(), ParseError> {
        self.skip_ws();
        match self.peek() {
            Some(b'"') => self.string()?,
            None => return self.err(ParseErrorKind::Truncated),
            Some(_) => return self.err(ParseErrorKind::Syntax),
        };
        self.expect(b':')
    }

    pub(super) fn skip_number(&mut self) -> Result<(), ParseError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let digits = |p: &mut Self| {
            let s = p.pos;
            while let Some(b'0'..=b'9') = p.peek() {
                p.pos += 1;
            }
            p.pos - s
        };
        let int_start = self.pos;
        let int_digits = digits(self);
        // JSON allows no leading zero (`01`), in skipped values too.
        if int_digits == 0 || (int_digits > 1 && self.line[int_start] == b'0') {
            return Err(ParseError {
                kind: ParseErrorKind::BadNumber,
                offset: start,
            });
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if digits(self) == 0 {
                return Err(ParseError {
                    kind: ParseErrorKind::BadNumber,
                    offset: start,
                });
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(ParseError {
                    kind: ParseErrorKind::BadNumber,
                    offset: start,
                });
            }
        }
        Ok(())
    }
}
